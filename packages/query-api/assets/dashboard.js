// The web dashboard: reads the query API it is served by (relative URLs, so it works behind a
// reverse proxy's path prefix too) every 5 s and draws it. Every text from the API goes in
// through textContent, never as markup: endpoints and user ids come from the services' traffic.
'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const REFRESH_MS = 5000;
  const HOUR_MS = 3600000;

  // formatBytes and the rest, shared with the terminal monitor: @otel-bandwidth/core's display-format,
  // which dashboard-format.js (loaded first) puts on the window. Without it (an API from before it,
  // answering behind the same address during an upgrade) the page says so rather than stop blank.
  if (window.otelBandwidthFormat === undefined) {
    $('errors').textContent = 'dashboard-format.js did not load: reload the page (an API of another version may have answered)';
    $('errors').hidden = false;
    $('updated').textContent = 'not started';
    return;
  }
  const { formatBytes: bytes, formatCount: count, formatAge: age } = window.otelBandwidthFormat;
  /** An alert's value in its metric's unit: a rate a second, or a latency percentile named, in ms (p95 812.50 ms). */
  function alertValue(metric, v) {
    if (v === null) return '–';
    if (metric === 'p50' || metric === 'p95' || metric === 'p99') return `${metric} ${v.toFixed(2)} ms`;
    if (metric === 'bandwidth' || metric === 'inbound' || metric === 'outbound') return v !== 0 && Math.abs(v) < 1 ? `${small(v)} B/s` : `${bytes(v)}/s`;
    if (metric === 'requests') return `${small(v)} req/s`;
    if (metric === 'errors') return `${small(v)} errors/s`;
    return small(v);
  }
  /** A count a second: three significant digits below 100 (0.000412), whole numbers above. */
  const small = (v) => (v === 0 || Math.abs(v) >= 100 ? count(Math.round(v)) : String(Number(v.toPrecision(3))));
  const utcTime = (ms) => new Date(ms).toISOString().slice(11, 19);

  function cell(row, text, className) {
    const td = document.createElement('td');
    td.textContent = text;
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }
  /** An endpoint's first cells in the tables that list endpoints: service, method, endpoint, requests. */
  function endpointCells(row, e) {
    cell(row, e.service);
    cell(row, e.method);
    cell(row, e.endpoint, 'endpoint');
    cell(row, count(e.totalRequests), 'num');
  }
  /** Fills a table's body, or shows its "none" line instead. */
  function fillTable(tableId, noneId, items, toRow) {
    const table = $(tableId);
    const body = table.tBodies[0];
    body.replaceChildren(
      ...items.map((item) => {
        const tr = document.createElement('tr');
        toRow(tr, item);
        return tr;
      }),
    );
    table.hidden = items.length === 0;
    $(noneId).hidden = items.length !== 0;
  }

  /** The API's clock less the browser's (from each answer's Date header): rates and ages use the API's time. */
  let clockOffsetMs = 0;
  const FETCH_TIMEOUT_MS = 4000;

  // An API with OTEL_BANDWIDTH_API_TOKENS wants a bearer token. It is asked for when a route
  // answers 401, or taken once from a link's fragment (#token=..., which no server is sent), and
  // kept in this tab's session storage only.
  const TOKEN_KEY = 'otel-bandwidth.token';
  let token = sessionStorage.getItem(TOKEN_KEY) || '';
  const linked = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (linked) {
    token = decodeURIComponent(linked[1]);
    sessionStorage.setItem(TOKEN_KEY, token);
    history.replaceState(null, '', location.pathname + location.search);
  }
  function useToken() {
    token = $('token').value.trim();
    $('token').value = '';
    sessionStorage.setItem(TOKEN_KEY, token);
    $('token-box').hidden = true;
    refresh();
  }

  async function getJson(path, signal) {
    const timeout = AbortSignal.timeout(FETCH_TIMEOUT_MS);
    let res;
    try {
      const headers = token ? { accept: 'application/json', authorization: `Bearer ${token}` } : { accept: 'application/json' };
      res = await fetch(path, { headers, signal: AbortSignal.any([signal, timeout]) });
    } catch (err) {
      if (timeout.aborted) throw new Error(`/${path.split('?')[0]} did not answer in ${FETCH_TIMEOUT_MS / 1000} s`);
      throw err;
    }
    const date = Date.parse(res.headers.get('date') || '');
    // the header has whole seconds: a difference under 2 s is the rounding, not the clocks
    if (Number.isFinite(date) && Math.abs(date - Date.now()) > 2000) clockOffsetMs = date - Date.now();
    else if (Number.isFinite(date)) clockOffsetMs = 0;
    if (res.status === 401) {
      $('token-box').hidden = false;
      throw new Error(`/${path.split('?')[0]} answered 401: ${token ? 'the token given is not one this API takes' : 'this API wants a bearer token'}; enter it above`);
    }
    if (!res.ok) {
      let why = res.statusText;
      try {
        why = (await res.json()).message || why;
      } catch {
        // not JSON: the status text says it
      }
      throw new Error(`/${path.split('?')[0]} answered ${res.status}: ${why}`);
    }
    return res.json();
  }

  const services = new Set();
  function learnServices(names) {
    const select = $('service');
    for (const name of names) {
      if (services.has(name)) continue;
      services.add(name);
      const option = document.createElement('option');
      option.value = name;
      option.textContent = name;
      const after = [...select.options].slice(1).find((o) => o.value.localeCompare(name) > 0);
      select.insertBefore(option, after ?? null);
    }
  }

  function renderStatus(s, now) {
    const badge = $('pipeline-state');
    badge.textContent = s.status.toUpperCase();
    badge.className = `badge ${s.status}`;
    const persisted = s.lastPersist === null ? 'never' : `${age(Math.max(0, now - Date.parse(s.lastPersist)) / 1000)} ago`;
    $('pipeline-figures').textContent =
      `backlog ${count(s.bufferSize)} entries${s.bufferSize > 0 ? ` (oldest ${age(s.backlogAgeSeconds)})` : ''} · ` +
      `aggregators ${s.activeConsumers} active · dead-lettered ${count(s.deadLetters)} · last persist ${persisted}`;
    $('pipeline-problems').replaceChildren(
      ...s.problems.map((p) => {
        const li = document.createElement('li');
        li.textContent = p;
        return li;
      }),
    );
  }

  /**
   * A realtime latency with two decimals, as the average beside it; '–' for none: a window
   * without duration buckets (null), or an API older than the percentiles (no field).
   */
  const fixedMs = (v) => (v === null || v === undefined ? '–' : v.toFixed(2));

  function renderRealtime(r, now) {
    learnServices(r.endpoints.map((e) => e.service));
    const s = r.summary;
    // the window ends with the minute now running: rates over the part of it that has passed
    const seconds = Math.max(1, (Math.min(now, Date.parse(r.to)) - Date.parse(r.from)) / 1000);
    $('summary-window').textContent = String(r.windowMinutes);
    $('tile-bandwidth').textContent = `${bytes(s.totalBandwidth / seconds)}/s`;
    $('tile-in').textContent = `${bytes(s.totalInbound / seconds)}/s`;
    $('tile-out').textContent = `${bytes(s.totalOutbound / seconds)}/s`;
    $('tile-requests').textContent = `${(s.totalRequests / seconds).toFixed(1)}/s`;
    $('tile-errors').textContent = `${(s.totalRequests === 0 ? 0 : (s.errorCount / s.totalRequests) * 100).toFixed(1)} %`;
    $('tile-latency').textContent = `${s.avgResponseTime.toFixed(2)} ms`;
    $('tile-p95').textContent = s.p95ResponseTime === null || s.p95ResponseTime === undefined ? '–' : `${fixedMs(s.p95ResponseTime)} ms`;
    const bandwidthOf = (e) => e.totalInbound + e.totalOutbound;
    const top = [...r.endpoints]
      .sort((a, b) => bandwidthOf(b) - bandwidthOf(a) || b.totalRequests - a.totalRequests || a.endpoint.localeCompare(b.endpoint))
      .slice(0, 20);
    $('endpoints-shown').textContent = r.endpoints.length > top.length ? `top ${top.length} of ${count(r.endpoints.length)}` : '';
    fillTable('endpoints-table', 'endpoints-none', top, (tr, e) => {
      const share = s.totalBandwidth === 0 ? 0 : (bandwidthOf(e) / s.totalBandwidth) * 100;
      endpointCells(tr, e);
      cell(tr, bytes(e.totalInbound), 'num');
      cell(tr, bytes(e.totalOutbound), 'num');
      const td = cell(tr, '');
      const bar = document.createElement('span');
      bar.className = 'share';
      bar.style.width = `${Math.round(share)}px`;
      td.append(bar, `${share.toFixed(1)} %`);
      cell(tr, count(e.errorCount), 'num');
      cell(tr, e.avgResponseTime.toFixed(2), 'num');
      cell(tr, fixedMs(e.p95ResponseTime), 'num');
      cell(tr, e.maxResponseTime.toFixed(2), 'num');
    });
  }

  function renderAlerts(a, now) {
    // under a service filter, the service's alerts and those over all services (which include it)
    const service = $('service').value;
    const open = a.alerts.filter((x) => x.resolvedAt === null && (service === '' || x.service === service || x.service === null));
    $('alerts-count').textContent = service === '' ? `(${a.open})` : `(${open.length}${a.alerts.length < a.open ? '+' : ''})`;
    fillTable('alerts-table', 'alerts-none', open, (tr, x) => {
      cell(tr, x.severity.toUpperCase(), `sev ${x.severity}`);
      cell(tr, x.rule);
      cell(tr, x.endpoint !== null ? `${x.service} ${x.method} ${x.endpoint}` : (x.service ?? 'all services'), 'endpoint');
      cell(tr, alertValue(x.metric, x.value), 'num');
      cell(tr, alertValue(x.metric, x.threshold), 'num');
      const opened = Date.parse(x.openedAt);
      cell(tr, `${utcTime(opened)} (${age(Math.max(0, now - opened) / 1000)} ago)`);
      cell(tr, x.message, 'message');
    });
  }

  /** An SVG text element. */
  function svgText(x, y, s, anchor, cls) {
    const t = document.createElementNS(SVG, 'text');
    t.setAttribute('x', String(x));
    t.setAttribute('y', String(y));
    if (anchor) t.setAttribute('text-anchor', anchor);
    if (cls) t.setAttribute('class', cls);
    t.textContent = s;
    return t;
  }

  const CHART = { width: 960, height: 180, top: 14, bottom: 20 };

  /**
   * Bars of bytes in and out, stacked, one slot per item (each a group with a title that says its
   * figures), a time label under every `labelEvery`-th; returns the shapes and the tallest bar.
   */
  function bandwidthBars(items, dataName, labelEvery, label, title) {
    const { width, height, top, bottom } = CHART;
    const slot = width / Math.max(1, items.length);
    const max = Math.max(1, ...items.map((x) => x.in + x.out));
    const scale = (height - top - bottom) / max;
    const shapes = [];
    items.forEach((item, i) => {
      const g = document.createElementNS(SVG, 'g');
      g.setAttribute(dataName, new Date(item.start).toISOString());
      const tip = document.createElementNS(SVG, 'title');
      tip.textContent = title(item);
      g.appendChild(tip);
      let y = height - bottom;
      for (const [part, value] of [['in', item.in], ['out', item.out]]) {
        const rect = document.createElementNS(SVG, 'rect');
        const hgt = value * scale;
        y -= hgt;
        rect.setAttribute('class', part);
        rect.setAttribute('x', String(i * slot + Math.min(2, slot / 6)));
        rect.setAttribute('width', String(slot - Math.min(4, slot / 3)));
        rect.setAttribute('y', String(y));
        rect.setAttribute('height', String(hgt));
        g.appendChild(rect);
      }
      shapes.push(g);
      // a label centred under a narrow first slot would be cut at the chart's edge
      if (i % labelEvery === 0) shapes.push(slot / 2 < 18 && i === 0 ? svgText(2, height - 5, label(item), 'start') : svgText(i * slot + slot / 2, height - 5, label(item), 'middle'));
    });
    return { shapes, max, slot };
  }

  const hhmm = (ms) => new Date(ms).toISOString().slice(11, 16);

  function renderHourly(h) {
    learnServices(h.services);
    const hours = h.hours.map((x) => ({ start: Date.parse(x.hourStart), in: x.totalInbound, out: x.totalOutbound, requests: x.totalRequests }));
    const totals = hours.reduce((t, x) => ({ in: t.in + x.in, out: t.out + x.out, requests: t.requests + x.requests }), { in: 0, out: 0, requests: 0 });
    $('hourly-total').textContent = `since ${new Date(Date.parse(h.from)).toISOString().slice(0, 16).replace('T', ' ')} UTC: in ${bytes(totals.in)}, out ${bytes(totals.out)}, ${count(totals.requests)} requests`;
    const svg = $('hourly-chart');
    const { shapes, max } = bandwidthBars(hours, 'data-hour', 3, (x) => hhmm(x.start), (x) => `${new Date(x.start).toISOString().slice(0, 13)}:00 UTC: in ${bytes(x.in)}, out ${bytes(x.out)}, ${count(x.requests)} requests`);
    const peak = hours.reduce((m, x) => (x.in + x.out > m.in + m.out ? x : m), hours[0] ?? { start: 0, in: 0, out: 0 });
    shapes.push(svgText(4, 11, totals.in + totals.out === 0 ? 'no traffic' : `max ${bytes(max)} an hour`));
    svg.replaceChildren(...shapes);
    svg.setAttribute(
      'aria-label',
      totals.in + totals.out === 0
        ? 'bandwidth per hour: no traffic'
        : `bandwidth per hour: busiest ${hhmm(peak.start)} UTC with ${bytes(peak.in + peak.out)}; in ${bytes(totals.in)}, out ${bytes(totals.out)} in all`,
    );
  }

  /** The last hour a minute at a time (from Redis): bandwidth as bars, the p95 latency as a line over them. */
  function renderMinutes(m) {
    const minutes = m.minutes.map((x) => ({ start: Date.parse(x.minuteStart), in: x.totalInbound, out: x.totalOutbound, requests: x.totalRequests, errors: x.errorCount, p95: x.p95ResponseTime }));
    const totals = minutes.reduce((t, x) => ({ in: t.in + x.in, out: t.out + x.out, requests: t.requests + x.requests }), { in: 0, out: 0, requests: 0 });
    $('minutes-total').textContent = `since ${hhmm(Date.parse(m.from))} UTC: in ${bytes(totals.in)}, out ${bytes(totals.out)}, ${count(totals.requests)} requests`;
    const svg = $('minutes-chart');
    const { shapes, max, slot } = bandwidthBars(
      minutes,
      'data-minute',
      10,
      (x) => hhmm(x.start),
      (x) => `${hhmm(x.start)} UTC: in ${bytes(x.in)}, out ${bytes(x.out)}, ${count(x.requests)} requests, ${count(x.errors)} errors, p95 ${x.p95 === null ? '–' : `${ms(x.p95)} ms`}`,
    );
    const { height, top, bottom } = CHART;
    const p95Max = Math.max(0, ...minutes.map((x) => x.p95 ?? 0));
    if (p95Max > 0) {
      // a line through the minutes that have a p95, broken where one has none
      let run = [];
      const lines = [];
      const flush = () => {
        if (run.length > 0) {
          const line = document.createElementNS(SVG, run.length === 1 ? 'circle' : 'polyline');
          if (run.length === 1) {
            const [cx, cy] = run[0].split(',');
            line.setAttribute('cx', cx);
            line.setAttribute('cy', cy);
            line.setAttribute('r', '2');
          } else line.setAttribute('points', run.join(' '));
          line.setAttribute('class', 'p95');
          lines.push(line);
        }
        run = [];
      };
      minutes.forEach((x, i) => {
        if (x.p95 === null) return flush();
        run.push(`${(i * slot + slot / 2).toFixed(1)},${(height - bottom - (x.p95 / p95Max) * (height - top - bottom)).toFixed(1)}`);
      });
      flush();
      shapes.push(...lines, svgText(CHART.width - 4, 11, `p95 up to ${ms(p95Max)} ms`, 'end', 'p95'));
    }
    shapes.push(svgText(4, 11, totals.in + totals.out === 0 ? 'no traffic' : `max ${bytes(max)} a minute`));
    svg.replaceChildren(...shapes);
    const peak = minutes.reduce((best, x) => (x.in + x.out > best.in + best.out ? x : best), minutes[0] ?? { start: 0, in: 0, out: 0 });
    svg.setAttribute(
      'aria-label',
      totals.in + totals.out === 0
        ? 'bandwidth per minute: no traffic'
        : `bandwidth per minute: busiest ${hhmm(peak.start)} UTC with ${bytes(peak.in + peak.out)}${p95Max > 0 ? `; p95 latency up to ${ms(p95Max)} ms` : ''}`,
    );
  }

  function renderUsers(u) {
    learnServices(u.users.map((x) => x.service));
    $('users-unique').textContent = `(${count(u.uniqueUsers)} unique)`;
    fillTable('users-table', 'users-none', u.users, (tr, x) => {
      cell(tr, x.userId, 'endpoint');
      cell(tr, x.service);
      cell(tr, count(x.totalRequests), 'num');
      cell(tr, bytes(x.totalInbound), 'num');
      cell(tr, bytes(x.totalOutbound), 'num');
      cell(tr, bytes(x.totalBandwidth), 'num');
    });
  }

  /** Milliseconds as the tables write them: 0.412, 12.5, 1,250. */
  const ms = (v) => (v === null ? '–' : v < 100 ? String(Number(v.toPrecision(3))) : count(Math.round(v)));

  function renderDaily(rows) {
    learnServices(rows.map((x) => x.service));
    fillTable('daily-table', 'daily-none', rows, (tr, x) => {
      cell(tr, x.date);
      cell(tr, x.service);
      cell(tr, count(x.total_requests), 'num');
      cell(tr, bytes(x.total_inbound), 'num');
      cell(tr, bytes(x.total_outbound), 'num');
      cell(tr, count(x.error_count), 'num');
      cell(tr, ms(x.avg_response_time), 'num');
      cell(tr, x.peak_hour === null ? '–' : hhmm(Date.parse(x.peak_hour)), 'num');
      cell(tr, bytes(x.peak_bandwidth), 'num');
      cell(tr, count(x.unique_users), 'num');
    });
  }

  function renderLatency(e) {
    learnServices(e.endpoints.map((x) => x.service));
    $('latency-shown').textContent = e.total > e.endpoints.length ? `top ${count(e.endpoints.length)} of ${count(e.total)}` : '';
    fillTable('latency-table', 'latency-none', e.endpoints, (tr, x) => {
      endpointCells(tr, x);
      cell(tr, ms(x.p50), 'num');
      cell(tr, ms(x.p95), 'num');
      cell(tr, ms(x.p99), 'num');
      cell(tr, ms(x.maxResponseTime), 'num');
      cell(tr, x.errorCount === 0 ? '0' : `${count(x.errorCount)} (${small(x.errorRate * 100)} %)`, 'num');
    });
  }

  let timer;
  let generation = 0;
  let inFlight;
  /** per panel: the query its figures answer, or undefined when it shows none */
  const drawnFor = new Map();
  const PANELS = ['pipeline', 'summary', 'alerts', 'endpoints', 'minutely', 'hourly', 'daily', 'latency', 'users'];

  /** A panel whose route failed: its figures are marked stale, or cleared when they answered another filter. */
  function panelFailed(panels, key) {
    for (const id of panels) {
      const section = $(id);
      section.classList.add('stale');
      if (drawnFor.get(id) !== key) {
        section.classList.add('cleared');
        drawnFor.delete(id);
      }
    }
  }

  function panelDrawn(panels, key) {
    for (const id of panels) {
      $(id).classList.remove('stale', 'cleared');
      drawnFor.set(id, key);
    }
  }

  async function refresh() {
    clearTimeout(timer);
    inFlight?.abort();
    const controller = new AbortController();
    inFlight = controller;
    const mine = ++generation;
    const problems = [];
    try {
      const service = $('service').value;
      const minutes = $('minutes').value;
      const q = service ? `&service=${encodeURIComponent(service)}` : '';
      const key = `${service}|${minutes}`;
      const parts = [
        ['metrics/status', ['pipeline'], renderStatus],
        [`metrics/realtime?minutes=${minutes}${q}`, ['summary', 'endpoints'], renderRealtime],
        ['metrics/alerts?status=open&limit=200', ['alerts'], renderAlerts],
        [`metrics/minutes?minutes=60${q}`, ['minutely'], renderMinutes],
        [`metrics/hours?hours=24${q}`, ['hourly'], renderHourly],
        // days=13: the days overlapping the last 13 x 24 h, today and the 13 before
        [`metrics/daily?days=13${q}`, ['daily'], renderDaily],
        [`metrics/endpoints?hours=24&sort=p95&limit=10${q}`, ['latency'], renderLatency],
        [`metrics/users?hours=24&limit=10${q}`, ['users'], renderUsers],
      ];
      // each part is drawn as soon as it answers: a slow store holds up only its own panels
      await Promise.all(
        parts.map(async ([path, panels, render]) => {
          let value;
          try {
            value = await getJson(path, controller.signal);
          } catch (err) {
            if (mine !== generation) return;
            problems.push(err instanceof Error ? err.message : String(err));
            panelFailed(panels, key);
            return;
          }
          // an answer a newer refresh overtook (a filter changed meanwhile) is not drawn
          if (mine !== generation) return;
          try {
            render(value, Date.now() + clockOffsetMs);
            panelDrawn(panels, key);
          } catch (err) {
            problems.push(`/${path.split('?')[0]}: ${err.message}`);
            panelFailed(panels, key);
          }
        }),
      );
    } catch (err) {
      problems.push(err instanceof Error ? err.message : String(err));
    } finally {
      if (mine === generation) {
        if (!drawnFor.has('pipeline')) {
          $('pipeline-state').textContent = 'UNKNOWN';
          $('pipeline-state').className = 'badge down';
        }
        const box = $('errors');
        box.replaceChildren(
          ...problems.sort().map((p) => {
            const line = document.createElement('p');
            line.textContent = p;
            return line;
          }),
        );
        box.hidden = problems.length === 0;
        const now = Date.now() + clockOffsetMs;
        if (problems.length === 0) lastComplete = now;
        $('updated').textContent =
          problems.length === 0
            ? `updated ${utcTime(now)} UTC`
            : `tried ${utcTime(now)} UTC; ${lastComplete === undefined ? 'never complete' : `last complete ${age((now - lastComplete) / 1000)} ago`}`;
        document.body.dataset.refreshed = String(mine);
        if ($('live').checked) timer = setTimeout(refresh, REFRESH_MS);
      }
    }
  }
  let lastComplete;

  $('token-use').addEventListener('click', useToken);
  $('token').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') useToken();
  });
  $('service').addEventListener('change', refresh);
  $('minutes').addEventListener('change', refresh);
  $('live').addEventListener('change', () => ($('live').checked ? refresh() : clearTimeout(timer)));
  refresh();
})();
