/**
 * The aggregator's counters for Prometheus: the families from AggregatorStats with exact text,
 * the server the `aggregator` command starts (serveAggregatorMetrics) scraped over HTTP after a
 * real aggregator applied a known stream, and the configuration that turns it on.
 */
import net from 'node:net';
import { Aggregator, aggregatorMetricFamilies, alertMonitorMetricFamilies, readAggregatorConfig, serveAggregatorMetrics, type AggregatorStats, type AlertMonitorStats, type MetricsServer } from '@otel-bandwidth/aggregator';
import { encodeBatch, fieldsToArray, renderPrometheusText } from '@otel-bandwidth/core';
import { createTestDatabase, createTestRedis, prometheusSamples, promtoolProblems, type TestDatabase, type TestRedis } from 'test-support';
import { batch } from './fixtures';

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('aggregator_metrics');
  r = await createTestRedis('aggregator_metrics');
});
afterAll(async () => {
  await db.drop();
  await r.cleanup();
});

const silent = (): void => undefined;
const DAY = 86_400_000;


describe('aggregatorMetricFamilies', () => {
  const stats: AggregatorStats = {
    entriesRead: 1200,
    batchesApplied: 1150,
    duplicateBatches: 40,
    deadLettered: 10,
    pointsRefused: 3,
    pointsIgnored: 17,
    flushes: 96,
    failedFlushes: 2,
    rowsExpired: 5000,
    entriesBuffered: 12,
    lastFlushMs: 1_795_888_680_651,
    lastError: undefined,
  };

  it('writes every counter and gauge of AggregatorStats, in base units', () => {
    const text = renderPrometheusText(aggregatorMetricFamilies(stats, 1_795_888_683_151));
    expect(text).toBe(
      '# HELP otel_bandwidth_aggregator_entries_read_total Stream entries this aggregator read, claimed ones and ones delivered again included.\n' +
        '# TYPE otel_bandwidth_aggregator_entries_read_total counter\n' +
        'otel_bandwidth_aggregator_entries_read_total 1200\n' +
        '# HELP otel_bandwidth_aggregator_batches_applied_total Batches this aggregator applied to MySQL.\n' +
        '# TYPE otel_bandwidth_aggregator_batches_applied_total counter\n' +
        'otel_bandwidth_aggregator_batches_applied_total 1150\n' +
        '# HELP otel_bandwidth_aggregator_duplicate_batches_total Batches this aggregator read that were applied already (the ledger had them, or the same flush held them twice): acknowledged, not applied again.\n' +
        '# TYPE otel_bandwidth_aggregator_duplicate_batches_total counter\n' +
        'otel_bandwidth_aggregator_duplicate_batches_total 40\n' +
        '# HELP otel_bandwidth_aggregator_entries_dead_lettered_total Entries this aggregator moved to the dead-letter stream: undecodable, delivered too often, or older than the retention.\n' +
        '# TYPE otel_bandwidth_aggregator_entries_dead_lettered_total counter\n' +
        'otel_bandwidth_aggregator_entries_dead_lettered_total 10\n' +
        '# HELP otel_bandwidth_aggregator_points_refused_total Data points of applied batches left out because the columns cannot hold their values (see the log).\n' +
        '# TYPE otel_bandwidth_aggregator_points_refused_total counter\n' +
        'otel_bandwidth_aggregator_points_refused_total 3\n' +
        '# HELP otel_bandwidth_aggregator_points_ignored_total Data points of applied batches of metrics that are not stored (other metric names, cumulative data).\n' +
        '# TYPE otel_bandwidth_aggregator_points_ignored_total counter\n' +
        'otel_bandwidth_aggregator_points_ignored_total 17\n' +
        '# HELP otel_bandwidth_aggregator_flushes_total Flushes this aggregator committed to MySQL and acknowledged.\n' +
        '# TYPE otel_bandwidth_aggregator_flushes_total counter\n' +
        'otel_bandwidth_aggregator_flushes_total 96\n' +
        "# HELP otel_bandwidth_aggregator_failed_flushes_total Rounds of this aggregator's read-and-flush loop that failed (Redis or MySQL refused or did not answer); what they held is tried again.\n" +
        '# TYPE otel_bandwidth_aggregator_failed_flushes_total counter\n' +
        'otel_bandwidth_aggregator_failed_flushes_total 2\n' +
        '# HELP otel_bandwidth_aggregator_rows_expired_total Hourly rows, resolved alerts and batch ledger ids this aggregator deleted past their retention.\n' +
        '# TYPE otel_bandwidth_aggregator_rows_expired_total counter\n' +
        'otel_bandwidth_aggregator_rows_expired_total 5000\n' +
        '# HELP otel_bandwidth_aggregator_entries_buffered Entries this aggregator read and has not flushed yet (buffered, or in a flush that runs or failed).\n' +
        '# TYPE otel_bandwidth_aggregator_entries_buffered gauge\n' +
        'otel_bandwidth_aggregator_entries_buffered 12\n' +
        '# HELP otel_bandwidth_aggregator_last_flush_age_seconds Seconds since this aggregator last committed a flush; left out before its first.\n' +
        '# TYPE otel_bandwidth_aggregator_last_flush_age_seconds gauge\n' +
        'otel_bandwidth_aggregator_last_flush_age_seconds 2.5\n' +
        '# HELP otel_bandwidth_aggregator_last_flush_timestamp_seconds When this aggregator last committed a flush, in seconds since the epoch; left out before its first.\n' +
        '# TYPE otel_bandwidth_aggregator_last_flush_timestamp_seconds gauge\n' +
        'otel_bandwidth_aggregator_last_flush_timestamp_seconds 1795888680.651\n',
    );
    expect(promtoolProblems(text)).toBe('');
  });

  it('leaves the flush\'s age and time out before the first flush', () => {
    const names = aggregatorMetricFamilies({ ...stats, lastFlushMs: undefined }, 0)
      .filter((f) => f.samples.length > 0)
      .map((f) => f.name);
    expect(names).toHaveLength(10);
    expect(names.filter((n) => n.includes('last_flush'))).toEqual([]);
  });
});

describe('alertMonitorMetricFamilies', () => {
  const stats: AlertMonitorStats = { rounds: 240, minutesRead: 300, failedRounds: 1, opened: 4, resolved: 3, notified: 6, failedNotifications: 2, lastError: 'x' };

  it("writes the alert monitor's counters", () => {
    const text = renderPrometheusText(alertMonitorMetricFamilies(stats));
    expect(promtoolProblems(text)).toBe('');
    expect(prometheusSamples(text)).toEqual({
      otel_bandwidth_alert_rounds_total: '240',
      otel_bandwidth_alert_failed_rounds_total: '1',
      otel_bandwidth_alert_realtime_hashes_read_total: '300',
      otel_bandwidth_alert_opened_total: '4',
      otel_bandwidth_alert_resolved_total: '3',
      otel_bandwidth_alert_notifications_total: '6',
      otel_bandwidth_alert_failed_notifications_total: '2',
    });
  });

  it('are served beside the aggregator\'s once its alert monitor runs', async () => {
    let monitor: AlertMonitorStats | undefined;
    const idle = { stats: () => ({ ...aggregatorStatsAtStart }) };
    const server = await serveAggregatorMetrics(idle, { host: '127.0.0.1', port: 0 }, () => monitor);
    try {
      expect(Object.keys(prometheusSamples(await (await fetch(server.url)).text())).filter((k) => k.startsWith('otel_bandwidth_alert_'))).toEqual([]);
      monitor = stats;
      const samples = prometheusSamples(await (await fetch(server.url)).text());
      expect([samples['otel_bandwidth_alert_opened_total'], samples['otel_bandwidth_aggregator_flushes_total']]).toEqual(['4', '0']);
    } finally {
      await server.close();
    }
  });
});

const aggregatorStatsAtStart: AggregatorStats = {
  entriesRead: 0, batchesApplied: 0, duplicateBatches: 0, deadLettered: 0, pointsRefused: 0, pointsIgnored: 0, flushes: 0, failedFlushes: 0, rowsExpired: 0, entriesBuffered: 0,
  lastFlushMs: undefined, lastError: undefined,
};

describe('serveAggregatorMetrics', () => {
  let aggregator: Aggregator;
  let server: MetricsServer;
  afterAll(async () => {
    await server?.close();
  });

  it('answers GET /metrics with the counters of an aggregator that applied a known stream, to the entry', async () => {
    const now = Date.now();
    const point = { count: 2, durationsS: [0.002, 0.004], inBytes: 10, outBytes: 300 };
    const b1 = batch('metrics:1', now - 5000, now, [{ route: '/a', ...point }]);
    // another instrumentation's copy of b1's durations: 1 point ignored
    b1.metrics.push({ ...b1.metrics[0]!, scope: '@opentelemetry/instrumentation-http' } as (typeof b1.metrics)[number]);
    // a negative body size: 1 point refused, the rest applied
    const b2 = batch('metrics:2', now - 5000, now, [{ route: '/b', ...point, inBytes: -5 }]);
    const b3 = batch('metrics:3', now - 5000, now, [{ route: '/c', ...point }]);
    for (const b of [b1, b2, b3, b1]) await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b)));
    await r.redis.xadd(r.keys.stream, '*', 'v', '1', 'id', 'broken:1', 'enc', 'json', 'body', '{not json');
    // two hourly rows past the 90 days kept
    const old = new Date(now - 100 * DAY);
    await db.conn.pool.query('INSERT INTO metrics_hourly (service, endpoint, method, protocol, hour_start, total_requests) VALUES ?', [
      [['svc', '/old1', 'GET', 'http', old, 1], ['svc', '/old2', 'GET', 'http', old, 1]],
    ]);

    aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'scraped', log: silent });
    server = await serveAggregatorMetrics(aggregator, { host: '127.0.0.1', port: 0 });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);

    const first = await fetch(server.url);
    expect([first.status, first.headers.get('content-type')]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8']);
    const before = prometheusSamples(await first.text());
    expect(before['otel_bandwidth_aggregator_entries_read_total']).toBe('0');
    expect(before).not.toHaveProperty('otel_bandwidth_aggregator_last_flush_age_seconds');

    await aggregator.drainOnce();
    const scrapedFrom = Date.now();
    const res = await fetch(server.url);
    const scrapedTo = Date.now();
    const text = await res.text();
    expect(promtoolProblems(text)).toBe('');
    const samples = prometheusSamples(text);
    const lastFlushMs = aggregator.stats().lastFlushMs as number;
    // the one reading of this process's clock the age was taken against
    const readAt = lastFlushMs + Math.round(Number(samples.otel_bandwidth_aggregator_last_flush_age_seconds) * 1000);
    expect(readAt).toBeGreaterThanOrEqual(scrapedFrom);
    expect(readAt).toBeLessThanOrEqual(scrapedTo);
    expect(samples).toEqual({
      otel_bandwidth_aggregator_entries_read_total: '5',
      otel_bandwidth_aggregator_batches_applied_total: '3',
      otel_bandwidth_aggregator_duplicate_batches_total: '1',
      otel_bandwidth_aggregator_entries_dead_lettered_total: '1',
      otel_bandwidth_aggregator_points_refused_total: '1',
      otel_bandwidth_aggregator_points_ignored_total: '1',
      otel_bandwidth_aggregator_flushes_total: '1',
      otel_bandwidth_aggregator_failed_flushes_total: '0',
      otel_bandwidth_aggregator_rows_expired_total: '2',
      otel_bandwidth_aggregator_entries_buffered: '0',
      otel_bandwidth_aggregator_last_flush_age_seconds: String((readAt - lastFlushMs) / 1000),
      otel_bandwidth_aggregator_last_flush_timestamp_seconds: String(lastFlushMs / 1000),
    });
    expect(text).toMatch(/\nprocess_cpu_seconds_total \d+(\.\d+)?\n[^]*\nprocess_resident_memory_bytes [1-9]\d*\n[^]*\nprocess_start_time_seconds \d+(\.\d+)?\n$/);
    await aggregator.stop();
  });

  it('answers 404 beside /metrics, 405 for other methods, and HEAD without a body', async () => {
    const base = server.url.replace(/\/metrics$/, '');
    const other = await fetch(`${base}/`);
    expect([other.status, await other.text()]).toEqual([404, 'not found: the metrics are at GET /metrics\n']);
    const post = await fetch(server.url, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET, HEAD']);
    const head = await fetch(server.url, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8', '']);
    const query = await fetch(`${server.url}?name[]=x`);
    expect(query.status).toBe(200);
  });

  it('says which variables name a port it cannot listen on', async () => {
    const taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as net.AddressInfo;
    try {
      await expect(serveAggregatorMetrics(aggregator, { host: '127.0.0.1', port })).rejects.toThrow(
        `invalid configuration:\n  - OTEL_BANDWIDTH_AGGREGATOR_METRICS_HOST=127.0.0.1 OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT=${port}: cannot listen there for GET /metrics (EADDRINUSE: another process listens there)`,
      );
    } finally {
      taken.close();
    }
  });
});

describe('the aggregator\'s metrics configuration', () => {
  it('serves no metrics unless the port is set; the host defaults to 127.0.0.1', () => {
    expect(readAggregatorConfig({}).metricsListen).toBeUndefined();
    expect(readAggregatorConfig({ OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT: '9464' }).metricsListen).toEqual({ host: '127.0.0.1', port: 9464 });
    expect(
      readAggregatorConfig({ OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT: '0', OTEL_BANDWIDTH_AGGREGATOR_METRICS_HOST: '0.0.0.0' }).metricsListen,
    ).toEqual({ host: '0.0.0.0', port: 0 });
  });

  it.each([
    [{ OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT: 'http' }, 'OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT="http" is not a whole number (expected 0 to 65535)'],
    [{ OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT: '65536' }, 'OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT=65536 is out of range (expected 0 to 65535)'],
    [
      { OTEL_BANDWIDTH_AGGREGATOR_METRICS_HOST: '0.0.0.0' },
      'OTEL_BANDWIDTH_AGGREGATOR_METRICS_HOST is set but OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT is not: no metrics server would start (set the port to serve GET /metrics)',
    ],
  ])('refuses %j, naming the variable', (env, problem) => {
    expect(() => readAggregatorConfig(env)).toThrow(`invalid configuration:\n  - ${problem}`);
  });
});
