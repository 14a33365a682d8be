/**
 * GET /metrics: the pipeline's health in Prometheus' text format, over a real Redis and MariaDB
 * in a known state, with exact values; with MySQL or Redis down (a closed port), still a 200 that
 * says which store did not answer. promtool checks every body.
 */
import { bandwidthAlerts, connectMysql, databaseName } from '@otel-bandwidth/storage';
import { buildQueryApi } from '@otel-bandwidth/query-api';
import type { FastifyInstance } from 'fastify';
import Redis from 'ioredis';
import { closedPort, createTestDatabase, createTestRedis, prometheusSamples, promtoolProblems, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
let api: FastifyInstance;
beforeAll(async () => {
  db = await createTestDatabase('query_api_prometheus');
  r = await createTestRedis('query_api_prometheus');
  api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, bufferWarning: 3 });
});
afterAll(async () => {
  await api.close();
  await db.drop();
  await r.cleanup();
});


/** The metric families in the order the body gives them (from their TYPE lines). */
function familyTypes(text: string): string[] {
  return [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => `${m[1]} ${m[2]}`);
}

/** Redis's clock, ms, as the API reads it. */
async function redisNowMs(): Promise<number> {
  const [s, us] = await r.redis.time();
  return Number(s) * 1000 + Math.floor(Number(us) / 1000);
}

async function scrape(app: FastifyInstance): Promise<string> {
  const res = await app.inject({ url: '/metrics' });
  expect([res.statusCode, res.headers['content-type']]).toEqual([200, 'text/plain; version=0.0.4; charset=utf-8']);
  expect(promtoolProblems(res.body)).toBe('');
  return res.body;
}

const PROCESS_FAMILIES = ['process_cpu_seconds_total counter', 'process_resident_memory_bytes gauge', 'process_start_time_seconds gauge'];

describe('GET /metrics', () => {
  it('on an empty pipeline: every gauge at 0, healthy, both stores up, ages that need an event left out', async () => {
    const text = await scrape(api);
    expect(text.slice(0, text.indexOf('# HELP process_'))).toBe(
      '# HELP otel_bandwidth_store_up Whether the store answered this scrape: 1 yes, 0 no (the gauges read from it are then left out).\n' +
        '# TYPE otel_bandwidth_store_up gauge\n' +
        'otel_bandwidth_store_up{store="redis"} 1\n' +
        'otel_bandwidth_store_up{store="mysql"} 1\n' +
        '# HELP otel_bandwidth_pipeline_healthy Whether GET /metrics/status says healthy: 1, or warning: 0 (its problems say why).\n' +
        '# TYPE otel_bandwidth_pipeline_healthy gauge\n' +
        'otel_bandwidth_pipeline_healthy 1\n' +
        '# HELP otel_bandwidth_stream_entries Entries in the metrics stream.\n' +
        '# TYPE otel_bandwidth_stream_entries gauge\n' +
        'otel_bandwidth_stream_entries 0\n' +
        '# HELP otel_bandwidth_stream_pending_entries Entries of the stream delivered to an aggregator and not yet acknowledged.\n' +
        '# TYPE otel_bandwidth_stream_pending_entries gauge\n' +
        'otel_bandwidth_stream_pending_entries 0\n' +
        '# HELP otel_bandwidth_stream_lag_entries Entries of the stream not yet delivered to the consumer group.\n' +
        '# TYPE otel_bandwidth_stream_lag_entries gauge\n' +
        'otel_bandwidth_stream_lag_entries 0\n' +
        '# HELP otel_bandwidth_stream_backlog_entries Entries of the stream not yet applied to MySQL (lag plus pending); status warns from OTEL_BANDWIDTH_STATUS_WARNING_ENTRIES.\n' +
        '# TYPE otel_bandwidth_stream_backlog_entries gauge\n' +
        'otel_bandwidth_stream_backlog_entries 0\n' +
        "# HELP otel_bandwidth_stream_oldest_unapplied_age_seconds Age of the oldest entry of the stream not yet applied, by Redis's clock; 0 when none waits.\n" +
        '# TYPE otel_bandwidth_stream_oldest_unapplied_age_seconds gauge\n' +
        'otel_bandwidth_stream_oldest_unapplied_age_seconds 0\n' +
        '# HELP otel_bandwidth_dead_letter_entries Entries in the dead-letter stream: ones no aggregator could apply.\n' +
        '# TYPE otel_bandwidth_dead_letter_entries gauge\n' +
        'otel_bandwidth_dead_letter_entries 0\n' +
        "# HELP otel_bandwidth_consumer_group_consumers Consumers in the aggregators' consumer group: the live ones and those that died (one that stops cleanly leaves it).\n" +
        '# TYPE otel_bandwidth_consumer_group_consumers gauge\n' +
        'otel_bandwidth_consumer_group_consumers 0\n' +
        "# HELP otel_bandwidth_consumer_group_active_consumers Consumers in the aggregators' consumer group that read the stream in the last 60 seconds.\n" +
        '# TYPE otel_bandwidth_consumer_group_active_consumers gauge\n' +
        'otel_bandwidth_consumer_group_active_consumers 0\n' +
        '# HELP otel_bandwidth_alerts_open Alerts open now (rows of bandwidth_alerts not resolved).\n' +
        '# TYPE otel_bandwidth_alerts_open gauge\n' +
        'otel_bandwidth_alerts_open 0\n',
    );
    expect(familyTypes(text).slice(-3)).toEqual(PROCESS_FAMILIES);
    expect(text).toMatch(/\nprocess_resident_memory_bytes [1-9]\d*\n# HELP process_start_time_seconds .*\n# TYPE .*\nprocess_start_time_seconds \d+(\.\d{1,3})?\n$/);
  });

  it('in a known state: the numbers /metrics/status gives, to the entry, the ages against Redis\'s clock, the open alerts', async () => {
    // four entries added 5 s ago by Redis's clock, one of them delivered and not acknowledged
    const addedMs = (await redisNowMs()) - 5000;
    for (let i = 0; i < 4; i++) await r.redis.xadd(r.keys.stream, `${addedMs}-${i}`, 'v', '1', 'id', `entry:${i}`);
    await r.redis.xgroup('CREATE', r.keys.stream, 'aggregators', '0');
    await r.redis.xreadgroup('GROUP', 'aggregators', 'aggregator-1', 'COUNT', 1, 'STREAMS', r.keys.stream, '>');
    for (let i = 0; i < 2; i++) await r.redis.xadd(r.keys.deadLetter, '*', 'reason', `undecodable ${i}`);
    const lastFlushMs = addedMs - 37_250;
    await r.redis.hset(r.keys.aggregatorStatus, 'lastFlushMs', String(lastFlushMs));
    // two alerts open, one resolved
    const alert = { rule: 'egress', metric: 'outbound', alertType: 'threshold', severity: 'high', message: 'm', metricValue: 2, thresholdValue: 1 } as const;
    await db.conn.db.insert(bandwidthAlerts).values([
      { ...alert, service: 'shop', createdAt: new Date(), openKey: 'egress|shop' },
      { ...alert, service: 'bank', createdAt: new Date(), openKey: 'egress|bank' },
      { ...alert, service: 'shop', createdAt: new Date(Date.now() - 600_000), resolvedAt: new Date() },
    ]);

    const before = await redisNowMs();
    const text = await scrape(api);
    const after = await redisNowMs();
    const samples = prometheusSamples(text);
    // the one reading of Redis's clock both ages were taken against
    const readAt = addedMs + Math.round(Number(samples.otel_bandwidth_stream_oldest_unapplied_age_seconds) * 1000);
    expect(readAt).toBeGreaterThanOrEqual(before);
    expect(readAt).toBeLessThanOrEqual(after);
    expect(samples).toEqual({
      'otel_bandwidth_store_up{store="redis"}': '1',
      'otel_bandwidth_store_up{store="mysql"}': '1',
      // 4 entries wait, the warning is from 3 on
      otel_bandwidth_pipeline_healthy: '0',
      otel_bandwidth_stream_entries: '4',
      otel_bandwidth_stream_pending_entries: '1',
      otel_bandwidth_stream_lag_entries: '3',
      otel_bandwidth_stream_backlog_entries: '4',
      otel_bandwidth_stream_oldest_unapplied_age_seconds: String((readAt - addedMs) / 1000),
      otel_bandwidth_stream_oldest_unapplied_timestamp_seconds: String(addedMs / 1000),
      otel_bandwidth_dead_letter_entries: '2',
      otel_bandwidth_consumer_group_consumers: '1',
      otel_bandwidth_consumer_group_active_consumers: '1',
      otel_bandwidth_last_persist_age_seconds: String((readAt - lastFlushMs) / 1000),
      otel_bandwidth_last_persist_timestamp_seconds: String(lastFlushMs / 1000),
      otel_bandwidth_alerts_open: '2',
    });
    // the same reading as GET /metrics/status's
    expect((await api.inject({ url: '/metrics/status' })).json()).toMatchObject({
      status: 'warning', streamLength: 4, pending: 1, lag: 3, bufferSize: 4, consumers: 1, activeConsumers: 1, deadLetters: 2,
      lastPersist: new Date(lastFlushMs).toISOString(),
    });
    expect(familyTypes(text)).toEqual([
      'otel_bandwidth_store_up gauge',
      'otel_bandwidth_pipeline_healthy gauge',
      'otel_bandwidth_stream_entries gauge',
      'otel_bandwidth_stream_pending_entries gauge',
      'otel_bandwidth_stream_lag_entries gauge',
      'otel_bandwidth_stream_backlog_entries gauge',
      'otel_bandwidth_stream_oldest_unapplied_age_seconds gauge',
      'otel_bandwidth_stream_oldest_unapplied_timestamp_seconds gauge',
      'otel_bandwidth_dead_letter_entries gauge',
      'otel_bandwidth_consumer_group_consumers gauge',
      'otel_bandwidth_consumer_group_active_consumers gauge',
      'otel_bandwidth_last_persist_age_seconds gauge',
      'otel_bandwidth_last_persist_timestamp_seconds gauge',
      'otel_bandwidth_alerts_open gauge',
      ...PROCESS_FAMILIES,
    ]);
  });

  it('with MySQL down: a 200 with mysql 0, the open alerts left out, Redis\'s gauges as they are, nothing logged', async () => {
    const port = await closedPort();
    const mysql = connectMysql(`mysql://root@127.0.0.1:${port}/down`, { connectTimeoutMs: 2000 });
    const down = buildQueryApi({ redis: r.redis, mysql, keyPrefix: r.prefix, bufferWarning: 3 });
    const logged = jest.spyOn(process.stderr, 'write');
    try {
      const samples = prometheusSamples(await scrape(down));
      expect(samples).toMatchObject({
        'otel_bandwidth_store_up{store="redis"}': '1',
        'otel_bandwidth_store_up{store="mysql"}': '0',
        otel_bandwidth_pipeline_healthy: '0',
        otel_bandwidth_stream_entries: '4',
        otel_bandwidth_stream_pending_entries: '1',
        otel_bandwidth_stream_lag_entries: '3',
        otel_bandwidth_dead_letter_entries: '2',
      });
      expect(Object.keys(samples)).toHaveLength(14);
      expect(samples).not.toHaveProperty('otel_bandwidth_alerts_open');
      expect(logged).not.toHaveBeenCalled();
    } finally {
      logged.mockRestore();
      await down.close();
      await mysql.close();
    }
  });

  it('with Redis down: a 200 with redis 0, only the open alerts and the process', async () => {
    const port = await closedPort();
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => undefined);
    const down = buildQueryApi({ redis, mysql: db.conn, keyPrefix: r.prefix });
    try {
      const text = await scrape(down);
      expect(prometheusSamples(text)).toEqual({
        'otel_bandwidth_store_up{store="redis"}': '0',
        'otel_bandwidth_store_up{store="mysql"}': '1',
        otel_bandwidth_alerts_open: '2',
      });
      expect(familyTypes(text)).toEqual(['otel_bandwidth_store_up gauge', 'otel_bandwidth_alerts_open gauge', ...PROCESS_FAMILIES]);
    } finally {
      await down.close();
      redis.disconnect();
    }
  });

  it('with MySQL answering but without the tables: mysql 0, and the reason in the API\'s log', async () => {
    const url = `${db.url}_empty`;
    await db.conn.pool.query(`CREATE DATABASE IF NOT EXISTS \`${databaseName(url)}\``);
    const mysql = connectMysql(url);
    const empty = buildQueryApi({ redis: r.redis, mysql, keyPrefix: r.prefix });
    const logged: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    try {
      const samples = prometheusSamples(await scrape(empty));
      expect([samples['otel_bandwidth_store_up{store="mysql"}'], samples.otel_bandwidth_alerts_open]).toEqual(['0', undefined]);
      expect(logged.join('')).toMatch(/^otel-bandwidth api: GET \/metrics: counting the open alerts in MySQL: .*bandwidth_alerts/s);
    } finally {
      write.mockRestore();
      await empty.close();
      await mysql.close();
      await db.conn.pool.query(`DROP DATABASE \`${databaseName(url)}\``);
    }
  });

  it('is a route of its own beside the JSON ones under /metrics/', async () => {
    expect((await api.inject({ url: '/metrics/' })).statusCode).toBe(404);
    expect((await api.inject({ url: '/metrics/status' })).headers['content-type']).toBe('application/json; charset=utf-8');
    expect((await api.inject({ method: 'HEAD', url: '/metrics' })).headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
  });
});
