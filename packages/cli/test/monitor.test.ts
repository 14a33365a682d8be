/**
 * otel-bandwidth monitor: the view it renders (exact figures from a fixed frame), and the command
 * against a real query API over data an aggregator applied, and with no API at all.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { encodeBatch, fieldsToArray, type HistogramMetric, type MetricBatch } from '@otel-bandwidth/core';
import { buildQueryApi, type Alert, type AlertsResponse, type RealtimeResponse, type StatusResponse } from '@otel-bandwidth/query-api';
import { bandwidthAlerts } from '@otel-bandwidth/storage';
import Fastify from 'fastify';
import { closedPort, createTestDatabase, createTestRedis, hangingServer, type TestDatabase, type TestRedis } from 'test-support';
import { renderMonitor } from '../src/monitor-view';

const BIN = path.resolve(__dirname, '..', 'dist', 'bin.js');

function runMonitor(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'monitor', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe('the monitor view', () => {
  const status: StatusResponse = {
    bufferSize: 3, lastPersist: '2026-12-05T10:00:50.000Z', status: 'warning', streamLength: 3, pending: 1, lag: 2, consumers: 1,
    deadLetters: 2, activeConsumers: 0, backlogAgeSeconds: 95, problems: ['no aggregator has read the stream in the last 60 s: start one (otel-bandwidth aggregator)'],
  };
  const endpoint = (service: string, method: string, name: string, requests: number, inBytes: number, outBytes: number, errors: number, p95: number | null) => ({
    service, endpoint: name, method, protocol: 'http', totalRequests: requests, totalInbound: inBytes, totalOutbound: outBytes,
    totalInboundWire: 0, totalOutboundWire: 0, avgResponseTime: 2.5, maxResponseTime: 10, errorCount: errors,
    p50ResponseTime: p95 === null ? null : 2, p95ResponseTime: p95, p99ResponseTime: p95 === null ? null : 9.75,
  });
  const realtime: RealtimeResponse = {
    windowMinutes: 5,
    from: '2026-12-05T09:57:00.000Z',
    to: '2026-12-05T10:02:00.000Z',
    endpoints: [
      endpoint('shop', 'GET', '/api/products', 300, 0, 3_000_000, 0, 7.25),
      // written before the realtime view kept duration buckets
      endpoint('shop', 'POST', '/api/orders', 100, 1_048_576, 50_000, 10, null),
      endpoint('shop', 'GET', '(unmatched)', 20, 0, 2_000, 20, 4),
    ],
    summary: { totalBandwidth: 4_100_576, totalInbound: 1_048_576, totalOutbound: 3_052_000, totalRequests: 420, errorCount: 30, avgResponseTime: 2.5, p95ResponseTime: 6.5 },
  };

  it('shows the pipeline and its problems, rates over the part of the window that has passed, and the top endpoints by bandwidth', () => {
    // 10:01:00: four of the window's five minutes have passed (240 s)
    const lines = renderMonitor({ apiUrl: 'http://api:4040', nowMs: Date.parse('2026-12-05T10:01:00Z'), realtime, status, top: 2, intervalSeconds: 2, live: true });
    expect(lines).toEqual([
      'otel-bandwidth monitor   http://api:4040   2026-12-05 10:01:00 UTC   every 2 s, q quits',
      '',
      'Pipeline    WARNING   backlog 3 entries (oldest 95 s)   aggregators 0 active   dead-lettered 2   last persist 10 s ago',
      '  ! no aggregator has read the stream in the last 60 s: start one (otel-bandwidth aggregator)',
      'Last 5 min  16.7 KiB/s (in 4.27 KiB/s, out 12.4 KiB/s)   1.8 req/s   errors 7.1 %   avg 2.50 ms   p95 6.50 ms',
      '',
      'Top 2 of 3 endpoints by bandwidth (request and response bodies)',
      // no p95 where the window has no duration buckets
      'SERVICE  METHOD  ENDPOINT       REQUESTS        IN       OUT   SHARE  ERRORS  AVG MS  P95 MS  MAX MS',
      'shop     GET     /api/products       300       0 B  2.86 MiB  73.2 %       0    2.50    7.25   10.00',
      'shop     POST    /api/orders         100  1.00 MiB  48.8 KiB  26.8 %      10    2.50       -   10.00',
    ]);
  });

  const alert = (id: number, severity: Alert['severity'], rule: string, where: Pick<Alert, 'service' | 'method' | 'endpoint'>, value: number, threshold: number | null, openedAt: string, metric: Alert['metric']): Alert => ({
    id, rule, type: 'threshold', severity, metric, ...where, protocol: where.endpoint === null ? null : 'http', message: `${rule} fired`,
    value, threshold, peak: value, openedAt, resolvedAt: null, durationSeconds: 0,
  });
  const alerts: AlertsResponse = {
    alerts: [
      alert(9, 'critical', 'shop-egress', { service: 'shop', method: 'GET', endpoint: '/api/products' }, 3_200_000, 1_000_000, '2026-12-05T10:00:10.000Z', 'outbound'),
      alert(8, 'high', 'slow-api', { service: 'shop', method: 'GET', endpoint: '/api/x' }, 812.5, 500, '2026-12-05T09:58:00.000Z', 'p95'),
      alert(7, 'high', 'shop-requests', { service: 'shop', method: null, endpoint: null }, 450, 150, '2026-12-05T08:31:00.000Z', 'requests'),
      alert(4, 'medium', 'all-ingress', { service: null, method: null, endpoint: null }, 5_000_000, null, '2026-12-04T22:30:00.000Z', null),
    ],
    open: 7,
  };

  it('shows the open alerts between the pipeline and the traffic: the newest, what they watch, value and threshold, since when', () => {
    const lines = renderMonitor({ apiUrl: 'http://api:4040', nowMs: Date.parse('2026-12-05T10:01:00Z'), realtime, status, alerts, top: 1, intervalSeconds: 2, live: false });
    expect(lines).toEqual([
      'otel-bandwidth monitor   http://api:4040   2026-12-05 10:01:00 UTC',
      '',
      'Pipeline    WARNING   backlog 3 entries (oldest 95 s)   aggregators 0 active   dead-lettered 2   last persist 10 s ago',
      '  ! no aggregator has read the stream in the last 60 s: start one (otel-bandwidth aggregator)',
      'Alerts      7 open, the 4 newest shown',
      // in the unit of the rule's metric (a latency named: its percentile, in ms); a row from before alerts named it, the bare number
      '  SEVERITY  RULE           WHERE                            VALUE       THRESHOLD  OPENED',
      '  CRITICAL  shop-egress    shop GET /api/products      3.05 MiB/s    976.56 KiB/s  10:00:10 (50 s ago)',
      '  HIGH      slow-api       shop GET /api/x           p95 812.5 ms      p95 500 ms  09:58:00 (3 min ago)',
      '  HIGH      shop-requests  shop                    450 requests/s  150 requests/s  08:31:00 (90 min ago)',
      '  MEDIUM    all-ingress    all services                 5,000,000               -  2026-12-04 22:30 (11.5 h ago)',
      'Last 5 min  16.7 KiB/s (in 4.27 KiB/s, out 12.4 KiB/s)   1.8 req/s   errors 7.1 %   avg 2.50 ms   p95 6.50 ms',
      '',
      'Top 1 of 3 endpoints by bandwidth (request and response bodies)',
      'SERVICE  METHOD  ENDPOINT       REQUESTS   IN       OUT   SHARE  ERRORS  AVG MS  P95 MS  MAX MS',
      'shop     GET     /api/products       300  0 B  2.86 MiB  73.2 %       0    2.50    7.25   10.00',
    ]);
  });

  it('says in one line that no alert is open, or why the alerts are unknown, and nothing of alerts for an API without them', () => {
    const frame = { apiUrl: 'http://api:4040', nowMs: Date.parse('2026-12-05T10:01:00Z'), realtime, status, top: 1, intervalSeconds: 2, live: false };
    const alertsLine = (view: string[]) => view.slice(4, 5);
    expect(alertsLine(renderMonitor({ ...frame, alerts: { alerts: [], open: 0 } }))).toEqual(['Alerts      none open']);
    expect(alertsLine(renderMonitor({ ...frame, alerts: { error: '/metrics/alerts answered 503: MySQL at mysql://db:3306/x does not answer (ECONNREFUSED)' } }))).toEqual([
      'Alerts      unknown: /metrics/alerts answered 503: MySQL at mysql://db:3306/x does not answer (ECONNREFUSED)',
    ]);
    // the frame of an older API: exactly the lines without the section
    const without = renderMonitor(frame);
    expect(without).toEqual(renderMonitor({ ...frame, alerts: { alerts: [], open: 0 } }).filter((l) => !l.startsWith('Alerts')));
    expect(without[4]).toMatch(/^Last 5 min /);
  });

  it('shows no p95 for a window without duration buckets, or from an API older than the percentiles', () => {
    const frame = { apiUrl: 'http://api:4040', nowMs: Date.parse('2026-12-05T10:01:00Z'), status, top: 1, intervalSeconds: 2, live: false };
    const withoutBuckets: RealtimeResponse = {
      ...realtime,
      endpoints: realtime.endpoints.map((e) => ({ ...e, p50ResponseTime: null, p95ResponseTime: null, p99ResponseTime: null })),
      summary: { ...realtime.summary, p95ResponseTime: null },
    };
    // the JSON of an older API: the fields are missing altogether
    const older = JSON.parse(
      JSON.stringify(realtime, (key, value: unknown) => (['p50ResponseTime', 'p95ResponseTime', 'p99ResponseTime'].includes(key) ? undefined : value)),
    ) as RealtimeResponse;
    for (const view of [renderMonitor({ ...frame, realtime: withoutBuckets }), renderMonitor({ ...frame, realtime: older })]) {
      expect(view.slice(4)).toEqual([
        'Last 5 min  16.7 KiB/s (in 4.27 KiB/s, out 12.4 KiB/s)   1.8 req/s   errors 7.1 %   avg 2.50 ms',
        '',
        'Top 1 of 3 endpoints by bandwidth (request and response bodies)',
        'SERVICE  METHOD  ENDPOINT       REQUESTS   IN       OUT   SHARE  ERRORS  AVG MS  P95 MS  MAX MS',
        'shop     GET     /api/products       300  0 B  2.86 MiB  73.2 %       0    2.50       -   10.00',
      ]);
    }
  });

  it('says the API is down in one line', () => {
    const error = { error: 'the API at http://api:4040 does not answer (ECONNREFUSED)' };
    const lines = renderMonitor({ apiUrl: 'http://api:4040', nowMs: 0, realtime: error, status: error, top: 5, intervalSeconds: 2, live: false });
    expect(lines).toEqual(['otel-bandwidth monitor   http://api:4040   1970-01-01 00:00:00 UTC', '', 'Unavailable: the API at http://api:4040 does not answer (ECONNREFUSED)']);
  });
});

describe('otel-bandwidth monitor against a query API', () => {
  let db: TestDatabase;
  let r: TestRedis;
  beforeAll(async () => {
    db = await createTestDatabase('cli_monitor');
    r = await createTestRedis('cli_monitor');
  });
  afterAll(async () => {
    await db.drop();
    await r.cleanup();
  });

  function batchOf(startMs: number): MetricBatch {
    const attrs = (route: string, status: number) => ({ 'http.request.method': 'GET', 'http.route': route, 'http.response.status_code': status });
    const series = [
      { a: attrs('/big', 200), count: 4, seconds: 0.008, inBytes: 0, outBytes: 4_194_304 },
      { a: attrs('/small', 500), count: 6, seconds: 0.003, inBytes: 600, outBytes: 60 },
    ];
    const hist = (name: string, unit: string, boundaries: number[], value: (s: (typeof series)[number]) => { sum: number; bucketCounts: number[] }): HistogramMetric => ({
      name, unit, scope: '@otel-bandwidth/instrumentation', type: 'histogram', temporality: 'delta', boundaries,
      points: series.map((s) => ({ attributes: s.a, startTimeMs: startMs, endTimeMs: startMs + 5000, count: s.count, min: s.seconds, max: s.seconds, ...value(s) })),
    });
    return {
      batchId: `monitor:${startMs}`,
      startTimeMs: startMs,
      endTimeMs: startMs + 5000,
      resource: { 'service.name': 'watched' },
      metrics: [
        hist('http.server.request.duration', 's', [0.005, 0.01], (s) => ({ sum: s.count * s.seconds, bucketCounts: s.seconds <= 0.005 ? [s.count, 0, 0] : [0, s.count, 0] })),
        hist('http.server.request.body.size', 'By', [], (s) => ({ sum: s.inBytes, bucketCounts: [s.count] })),
        hist('http.server.response.body.size', 'By', [], (s) => ({ sum: s.outBytes, bucketCounts: [s.count] })),
      ],
    };
  }

  it('prints one view with the numbers the pipeline applied, then exits 0', async () => {
    await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(batchOf(Date.now() - 6000))));
    const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'monitored', log: () => undefined });
    await aggregator.drainOnce();
    await aggregator.stop();
    // open alerts of the watched service and of another (which --service leaves out), and a resolved one
    const opened = new Date(Math.floor(Date.now() / 1000) * 1000 - 30_000);
    const row = { alertType: 'threshold', metric: 'outbound', severity: 'critical', message: 'over', metricValue: 4_194_304, thresholdValue: 1_000_000, createdAt: opened } as const;
    await db.conn.db.insert(bandwidthAlerts).values([
      { ...row, rule: 'watched-egress', service: 'watched', method: 'GET', endpoint: '/big', protocol: 'http', openKey: 'a' },
      { ...row, rule: 'other-egress', service: 'other', openKey: 'b' },
      { ...row, rule: 'watched-egress', service: 'watched', method: 'GET', endpoint: '/small', protocol: 'http', resolvedAt: new Date(opened.getTime() + 1000) },
    ]);
    const api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix });
    const address = await api.listen({ host: '127.0.0.1', port: 0 });
    try {
      const run = await runMonitor(['--once', '--api', address, '--service', 'watched']);
      expect([run.code, run.stderr]).toEqual([0, '']);
      const lines = run.stdout.split('\n');
      expect(lines[2]).toMatch(/^Pipeline {4}HEALTHY {3}backlog 0 entries {3}aggregators 0 active {3}dead-lettered 0 {3}last persist \d+ s ago$/);
      expect(lines.slice(3, 5)).toEqual(['Alerts      1 open', '  SEVERITY  RULE            WHERE               VALUE     THRESHOLD  OPENED']);
      expect(lines[5]).toMatch(/^ {2}CRITICAL {2}watched-egress {2}watched GET \/big {2}4 MiB\/s {2}976\.56 KiB\/s {2}.+ \(\d+ s ago\)$/);
      // p95 of the 10 requests: rank 9.5, 3.5 of the 4 in (5, 10] ms cut at the slowest, 8 ms
      expect(lines[6]).toMatch(/^Last 5 min {2}.+\/s \(in .+\/s, out .+\/s\) {3}\d+\.\d req\/s {3}errors 60\.0 % {3}avg 5\.00 ms {3}p95 7\.63 ms$/);
      expect(lines.slice(8, 12)).toEqual([
        'Top 2 of 2 endpoints by bandwidth (request and response bodies)',
        'SERVICE  METHOD  ENDPOINT  REQUESTS     IN       OUT    SHARE  ERRORS  AVG MS  P95 MS  MAX MS',
        'watched  GET     /big             4    0 B  4.00 MiB  100.0 %       0    8.00    8.00    8.00',
        'watched  GET     /small           6  600 B      60 B    0.0 %       6    3.00    3.00    3.00',
      ]);
    } finally {
      await api.close();
    }
  });

  it('sends the bearer token an API wants, from --token or OTEL_BANDWIDTH_API_TOKEN, and says when it has none or a wrong one', async () => {
    const token = 'monitor-test-token-0123456789';
    const api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, tokens: [token] });
    const address = await api.listen({ host: '127.0.0.1', port: 0 });
    try {
      const origin = new URL(address).origin;
      const none = await runMonitor(['--once', '--api', address], { OTEL_BANDWIDTH_API_TOKEN: '' });
      expect(none.code).toBe(1);
      expect(none.stdout).toContain(`the API at ${origin} wants a bearer token: give it with --token or OTEL_BANDWIDTH_API_TOKEN`);
      const wrong = await runMonitor(['--once', '--api', address, '--token', 'not-the-token-0123456789']);
      expect(wrong.stdout).toContain(`the API at ${origin} wants a bearer token: the token given is not one of its OTEL_BANDWIDTH_API_TOKENS`);
      for (const run of [await runMonitor(['--once', '--api', address, '--token', token]), await runMonitor(['--once', '--api', address], { OTEL_BANDWIDTH_API_TOKEN: token })]) {
        expect([run.code, run.stderr]).toEqual([0, '']);
        expect(run.stdout.split('\n')[2]).toMatch(/^Pipeline {4}HEALTHY/);
      }
    } finally {
      await api.close();
    }
  });

  it('shows no alerts section, and no error, when the API is older than /metrics/alerts (404)', async () => {
    const older = Fastify();
    // older than the percentiles too
    const realtime: Omit<RealtimeResponse, 'summary'> & { summary: Omit<RealtimeResponse['summary'], 'p95ResponseTime'> } = {
      windowMinutes: 5, from: '2026-12-05T09:57:00.000Z', to: '2026-12-05T10:02:00.000Z', endpoints: [],
      summary: { totalBandwidth: 0, totalInbound: 0, totalOutbound: 0, totalRequests: 0, errorCount: 0, avgResponseTime: 0 },
    };
    const status: StatusResponse = {
      bufferSize: 0, lastPersist: null, status: 'healthy', streamLength: 0, pending: 0, lag: 0, consumers: 0, deadLetters: 0,
      activeConsumers: 0, backlogAgeSeconds: 0, problems: [],
    };
    const asked: string[] = [];
    older.addHook('onRequest', async (req) => void asked.push(req.url));
    older.get('/metrics/realtime', async () => realtime);
    older.get('/metrics/status', async () => status);
    const address = await older.listen({ host: '127.0.0.1', port: 0 });
    try {
      const run = await runMonitor(['--once', '--api', address]);
      expect([run.code, run.stderr]).toEqual([0, '']);
      expect(run.stdout.split('\n').slice(1)).toEqual([
        '',
        'Pipeline    HEALTHY   backlog 0 entries   aggregators 0 active   dead-lettered 0   last persist never',
        expect.stringMatching(/^Last 5 min {2}0 B\/s \(in 0 B\/s, out 0 B\/s\) {3}0\.0 req\/s {3}errors 0\.0 % {3}avg 0\.00 ms$/),
        '',
        'No requests in the window.',
        '',
      ]);
      expect(asked.sort()).toEqual(['/metrics/alerts?status=open&limit=5', '/metrics/realtime?minutes=5', '/metrics/status']);
    } finally {
      await older.close();
    }
  });

  it('on a terminal, redraws in the alternate screen until q, then gives the screen back', async () => {
    // `script` runs the monitor on a pseudo-terminal: its stdin and stdout are a terminal's
    const port = await closedPort();
    const command = `${process.execPath} ${BIN} monitor --api http://127.0.0.1:${port} --interval 1`;
    const child = spawn('script', ['-qfec', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let screen = '';
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    // two views: it redraws
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (b: Buffer) => {
        screen += b.toString();
        if (screen.split('q quits').length > 2) resolve();
      });
    });
    child.stdin.write('q');
    expect(await exited).toBe(0);
    expect(screen.startsWith(`\x1b[?1049h\x1b[?25l\x1b[H\x1b[2Jotel-bandwidth monitor   http://127.0.0.1:${port}   `)).toBe(true);
    expect(screen).toContain(`Unavailable: the API at http://127.0.0.1:${port} does not answer (ECONNREFUSED)`);
    expect(screen.endsWith('\x1b[?25h\x1b[?1049l')).toBe(true);
  });

  it('quits on q at once, even while the API it waits on hangs', async () => {
    const hanging = await hangingServer();
    const { port, sockets } = hanging;
    try {
      const child = spawn('script', ['-qfec', `${process.execPath} ${BIN} monitor --api http://127.0.0.1:${port}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
      let screen = '';
      const exited = new Promise<string>((resolve) => child.once('exit', (code) => resolve(`exited ${code}`)));
      child.stdout.on('data', (b: Buffer) => (screen += b.toString()));
      // in the alternate screen, its requests under way (the API took them and says nothing)
      while (!(screen.includes('\x1b[?1049h') && sockets.length >= 2)) await new Promise((resolve) => setTimeout(resolve, 20));
      child.stdin.write('q');
      // before the requests' own 5 s timeout: which comes first, not how long it took
      expect(await Promise.race([exited, new Promise((resolve) => setTimeout(() => resolve('still waiting'), 4000).unref())])).toBe('exited 0');
      expect(screen.endsWith('\x1b[?25h\x1b[?1049l')).toBe(true);
    } finally {
      hanging.close();
    }
  });

  it('exits 1 saying where the API should be when none answers, and 2 on a bad option', async () => {
    const port = await closedPort();
    const down = await runMonitor(['--once', '--api', `http://127.0.0.1:${port}`]);
    expect(down.code).toBe(1);
    expect(down.stdout.split('\n')[2]).toBe(
      `Unavailable: the API at http://127.0.0.1:${port} does not answer (ECONNREFUSED); start it with \`otel-bandwidth api\` or point --api at it`,
    );
    const bad = await runMonitor(['--minutes', '90']);
    expect([bad.code, bad.stderr]).toEqual([2, 'otel-bandwidth monitor: --minutes must be a whole number from 1 to 60, got "90"\n']);
  });
});
