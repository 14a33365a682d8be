/**
 * What `otel-bandwidth monitor` shows, as lines of text: the pipeline's state (/metrics/status),
 * the open alerts (/metrics/alerts) and the last minutes' traffic (/metrics/realtime), its top
 * endpoints by bandwidth with their average, p95 and slowest latency. Pure: the command fetches,
 * this renders, so the rendering is tested with exact numbers.
 */
import { formatAlertValue, isLatencyMetric } from '@otel-bandwidth/aggregator';
import { formatAge, formatBytes, formatCount } from '@otel-bandwidth/core';
import type { Alert, AlertsResponse, RealtimeEndpoint, RealtimeResponse, StatusResponse } from '@otel-bandwidth/query-api';

export interface MonitorFrame {
  apiUrl: string;
  nowMs: number;
  /** the traffic, or why it could not be read */
  realtime: RealtimeResponse | { error: string };
  status: StatusResponse | { error: string };
  /** the open alerts (the newest few, and how many are open), why not, or nothing: an API without /metrics/alerts */
  alerts?: AlertsResponse | { error: string };
  top: number;
  intervalSeconds: number;
  /** a terminal redraws the frame: it says how to quit */
  live: boolean;
}

function table(header: string[], rows: string[][], rightAligned: ReadonlySet<number>): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (rightAligned.has(i) ? c.padStart(widths[i] as number) : c.padEnd(widths[i] as number)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

function pipelineLines(status: MonitorFrame['status'], nowMs: number): string[] {
  if ('error' in status) return [`Pipeline    unknown: ${status.error}`];
  const persisted = status.lastPersist === null ? 'never' : `${formatAge(Math.max(0, nowMs - Date.parse(status.lastPersist)) / 1000)} ago`;
  const lines = [
    `Pipeline    ${status.status.toUpperCase()}   backlog ${formatCount(status.bufferSize)} entries` +
      (status.bufferSize > 0 ? ` (oldest ${formatAge(status.backlogAgeSeconds)})` : '') +
      `   aggregators ${status.activeConsumers} active   dead-lettered ${formatCount(status.deadLetters)}   last persist ${persisted}`,
  ];
  for (const p of status.problems) lines.push(`  ! ${p}`);
  return lines;
}

/** What an alert watches: an endpoint, a whole service, or everything. */
function alertScope(a: Alert): string {
  if (a.endpoint !== null) return [a.service, a.method, a.endpoint].filter((x) => x !== null).join(' ');
  return a.service ?? 'all services';
}

/** When an alert opened: the time of day on the frame's UTC day, else the date too; and how long ago. */
function openedWhen(openedAt: string, nowMs: number): string {
  const iso = new Date(openedAt).toISOString();
  const sameDay = iso.slice(0, 10) === new Date(nowMs).toISOString().slice(0, 10);
  const time = sameDay ? iso.slice(11, 19) : `${iso.slice(0, 10)} ${iso.slice(11, 16)}`;
  return `${time} (${formatAge(Math.max(0, nowMs - Date.parse(openedAt)) / 1000)} ago)`;
}

/**
 * A value of an alert in its metric's unit: a rate a second, or a latency percentile in ms named
 * (p95 812.5 ms); a row from before alerts named their metric, the bare number.
 */
function alertValue(a: Alert, value: number): string {
  if (a.metric === null) return formatCount(value);
  const formatted = formatAlertValue(a.metric, value);
  return isLatencyMetric(a.metric) ? `${a.metric} ${formatted}` : formatted;
}

function alertLines(alerts: MonitorFrame['alerts'], nowMs: number): string[] {
  if (alerts === undefined) return [];
  if ('error' in alerts) return [`Alerts      unknown: ${alerts.error}`];
  if (alerts.open === 0) return ['Alerts      none open'];
  const shown = alerts.alerts.filter((a) => a.resolvedAt === null);
  const head = `Alerts      ${formatCount(alerts.open)} open` + (shown.length < alerts.open ? `, the ${shown.length} newest shown` : '');
  if (shown.length === 0) return [head];
  return [
    head,
    ...table(
      ['SEVERITY', 'RULE', 'WHERE', 'VALUE', 'THRESHOLD', 'OPENED'],
      shown.map((a) => [
        a.severity.toUpperCase(),
        a.rule,
        alertScope(a),
        alertValue(a, a.value),
        a.threshold === null ? '-' : alertValue(a, a.threshold),
        openedWhen(a.openedAt, nowMs),
      ]),
      new Set([3, 4]),
    ).map((l) => `  ${l}`),
  ];
}

/** A latency in ms; '-' for none (a window without duration buckets, or an API older than the percentiles, which leaves the field out). */
const latency = (ms: number | null | undefined): string => (ms === null || ms === undefined ? '-' : ms.toFixed(2));

/** Bandwidth of an endpoint or summary: what it received and sent (bodies). */
const bandwidthOf = (e: Pick<RealtimeEndpoint, 'totalInbound' | 'totalOutbound'>): number => e.totalInbound + e.totalOutbound;

function trafficLines(realtime: MonitorFrame['realtime'], nowMs: number, top: number): string[] {
  if ('error' in realtime) return [`Traffic     unknown: ${realtime.error}`];
  const s = realtime.summary;
  // the window ends with the minute now running: rates over the part of it that has passed
  const seconds = Math.max(1, (Math.min(nowMs, Date.parse(realtime.to)) - Date.parse(realtime.from)) / 1000);
  const errorRate = s.totalRequests === 0 ? 0 : (s.errorCount / s.totalRequests) * 100;
  const lines = [
    `Last ${realtime.windowMinutes} min  ${formatBytes(s.totalBandwidth / seconds)}/s (in ${formatBytes(s.totalInbound / seconds)}/s, ` +
      `out ${formatBytes(s.totalOutbound / seconds)}/s)   ${(s.totalRequests / seconds).toFixed(1)} req/s   ` +
      `errors ${errorRate.toFixed(1)} %   avg ${s.avgResponseTime.toFixed(2)} ms` +
      (typeof s.p95ResponseTime === 'number' ? `   p95 ${latency(s.p95ResponseTime)} ms` : ''),
    '',
  ];
  if (realtime.endpoints.length === 0) {
    lines.push('No requests in the window.');
    return lines;
  }
  const shown = [...realtime.endpoints]
    .sort((a, b) => bandwidthOf(b) - bandwidthOf(a) || b.totalRequests - a.totalRequests || a.endpoint.localeCompare(b.endpoint))
    .slice(0, top);
  lines.push(`Top ${shown.length} of ${realtime.endpoints.length} endpoints by bandwidth (request and response bodies)`);
  lines.push(
    ...table(
      ['SERVICE', 'METHOD', 'ENDPOINT', 'REQUESTS', 'IN', 'OUT', 'SHARE', 'ERRORS', 'AVG MS', 'P95 MS', 'MAX MS'],
      shown.map((e) => [
        e.service,
        e.method,
        e.endpoint,
        formatCount(e.totalRequests),
        formatBytes(e.totalInbound),
        formatBytes(e.totalOutbound),
        `${s.totalBandwidth === 0 ? '0.0' : ((bandwidthOf(e) / s.totalBandwidth) * 100).toFixed(1)} %`,
        formatCount(e.errorCount),
        e.avgResponseTime.toFixed(2),
        latency(e.p95ResponseTime),
        e.maxResponseTime.toFixed(2),
      ]),
      new Set([3, 4, 5, 6, 7, 8, 9, 10]),
    ),
  );
  return lines;
}

export function renderMonitor(frame: MonitorFrame): string[] {
  const when = new Date(frame.nowMs).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
  const head = [`otel-bandwidth monitor   ${frame.apiUrl}   ${when}` + (frame.live ? `   every ${frame.intervalSeconds} s, q quits` : ''), ''];
  const { realtime, status } = frame;
  // the API down: one line for both
  if ('error' in realtime && 'error' in status && realtime.error === status.error) return [...head, `Unavailable: ${status.error}`];
  return [...head, ...pipelineLines(status, frame.nowMs), ...alertLines(frame.alerts, frame.nowMs), ...trafficLines(realtime, frame.nowMs, frame.top)];
}
