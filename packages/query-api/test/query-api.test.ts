import { RollupWriter } from '@otel-bandwidth/aggregator';
import { encodeBatch, fieldsToArray, type HistogramPoint, type MetricBatch } from '@otel-bandwidth/core';
import { buildQueryApi, readApiConfig } from '@otel-bandwidth/query-api';
import { connectMysql, databaseName } from '@otel-bandwidth/storage';
import type { FastifyInstance } from 'fastify';
import Redis from 'ioredis';
import { closedPort, createTestDatabase, createTestRedis, hangingServer, selfSignedCertificate, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
let api: FastifyInstance;
beforeAll(async () => {
  db = await createTestDatabase('query_api');
  r = await createTestRedis('query_api');
  api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, bufferWarning: 3 });
});
afterAll(async () => {
  await api.close();
  await db.drop();
  await r.cleanup();
});

const hour = 3_600_000;

function batch(id: string, atMs: number, route: string, count: number, outBytes: number): MetricBatch {
  const point = (extra: Pick<HistogramPoint, 'sum' | 'bucketCounts'> & Partial<HistogramPoint>): HistogramPoint => ({
    attributes: { 'http.request.method': 'GET', 'http.route': route, 'http.response.status_code': 200 },
    startTimeMs: atMs,
    endTimeMs: atMs + 1000,
    count,
    ...extra,
  });
  return {
    batchId: id,
    startTimeMs: atMs,
    endTimeMs: atMs + 1000,
    resource: { 'service.name': 'api-test' },
    metrics: [
      { name: 'http.server.request.duration', unit: 's', type: 'histogram', temporality: 'delta', boundaries: [], points: [point({ sum: count * 0.01, min: 0.01, max: 0.01, bucketCounts: [count] })] },
      { name: 'http.server.response.body.size', unit: 'By', type: 'histogram', temporality: 'delta', boundaries: [], points: [point({ sum: outBytes, bucketCounts: [count] })] },
    ],
  };
}

describe('query API', () => {
  beforeAll(async () => {
    const now = Date.now();
    await new RollupWriter(db.conn).apply([
      { streamId: '1-1', batch: batch('q:1', now - 1000, '/recent', 4, 400) },
      { streamId: '1-2', batch: batch('q:2', now - 3 * hour, '/older', 2, 20) },
      { streamId: '1-3', batch: batch('q:3', now - 30 * hour, '/ancient', 1, 1) },
    ]);
  });

  it('GET /metrics/hourly returns the rows of the hours overlapping the window, newest first', async () => {
    const one = await api.inject({ url: '/metrics/hourly?hours=1' });
    expect(one.statusCode).toBe(200);
    expect(one.json().map((row: { endpoint: string }) => row.endpoint)).toEqual(['/recent']);
    const day = await api.inject({ url: '/metrics/hourly?hours=24' });
    const rows = day.json() as Array<Record<string, unknown>>;
    expect(rows.map((row) => [row.endpoint, row.total_requests, row.total_outbound, row.avg_response_time, row.min_response_time])).toEqual([
      ['/recent', 4, 400, 10, 10],
      ['/older', 2, 20, 10, 10],
    ]);
    expect(Object.keys(rows[0]!).sort()).toEqual(
      [
        'id', 'service', 'endpoint', 'method', 'protocol', 'hour_start', 'total_requests', 'total_inbound', 'total_outbound',
        'total_inbound_wire', 'total_outbound_wire',
        'avg_response_time', 'max_response_time', 'min_response_time', 'error_count', 'success_count', 'created_at', 'updated_at',
      ].sort(),
    );
    expect(rows[0]!.hour_start).toMatch(/^\d{4}-\d\d-\d\dT\d\d:00:00\.000Z$/);
    const filtered = await api.inject({ url: '/metrics/hourly?hours=48&endpoint=/ancient' });
    expect(filtered.json().map((row: { total_requests: number }) => row.total_requests)).toEqual([1]);
  });

  it.each([
    ['/metrics/hourly?hours=abc', 'querystring/hours must be integer'],
    ['/metrics/hourly?hours=0', 'querystring/hours must be >= 1'],
    ['/metrics/hourly?hours=99999', 'querystring/hours must be <= 2160'],
    ['/metrics/realtime?minutes=61', 'querystring/minutes must be <= 60'],
    ['/metrics/hourly?direction=foo', 'querystring/direction must be one of server, client'],
    ['/metrics/realtime?minutes=5&minutes=6', 'querystring/minutes is given 2 times; give it once'],
  ])('%s is a 400 that says why', async (url, message) => {
    const res = await api.inject({ url });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
  });

  it('GET /metrics/status reports the backlog and the last persist', async () => {
    const empty = await api.inject({ url: '/metrics/status' });
    expect(empty.json()).toEqual({
      bufferSize: 0, lastPersist: null, status: 'healthy', streamLength: 0, pending: 0, lag: 0, consumers: 0, deadLetters: 0,
      activeConsumers: 0, backlogAgeSeconds: 0, problems: [],
    });
    for (let i = 0; i < 4; i++) await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(batch(`s:${i}`, Date.now(), '/x', 1, 1))));
    await r.redis.xgroup('CREATE', r.keys.stream, 'aggregators', '0');
    await r.redis.xreadgroup('GROUP', 'aggregators', 'c', 'COUNT', 1, 'STREAMS', r.keys.stream, '>');
    await r.redis.hset(r.keys.aggregatorStatus, 'lastFlushMs', '1795888680651');
    const busy = await api.inject({ url: '/metrics/status' });
    expect(busy.json()).toEqual({
      bufferSize: 4,
      lastPersist: '2026-11-28T17:58:00.651Z',
      status: 'warning',
      streamLength: 4,
      pending: 1,
      lag: 3,
      consumers: 1,
      deadLetters: 0,
      activeConsumers: 1,
      backlogAgeSeconds: 0,
      problems: ['4 entries wait to be applied (a warning from 3 on)'],
    });
  });

  it('GET /metrics/status says so when no aggregator reads the stream, or the backlog is old', async () => {
    await r.redis.del(r.keys.stream, r.keys.aggregatorStatus);
    const twoMinutesAgo = Date.now() - 120_000;
    // two entries of two minutes ago, and no consumer group: no aggregator ever ran
    for (let i = 0; i < 2; i++) {
      await r.redis.xadd(r.keys.stream, `${twoMinutesAgo}-${i}`, ...fieldsToArray(encodeBatch(batch(`old:${i}`, twoMinutesAgo, '/x', 1, 1))));
    }
    const nobody = (await api.inject({ url: '/metrics/status' })).json();
    expect(nobody).toMatchObject({ status: 'warning', bufferSize: 2, consumers: 0, activeConsumers: 0, backlogAgeSeconds: expect.any(Number) });
    expect(nobody.backlogAgeSeconds).toBeGreaterThanOrEqual(120);
    expect(nobody.problems).toEqual(['no aggregator has read the stream in the last 60 s: start one (otel-bandwidth aggregator)']);
    // an aggregator reads, but holds the oldest entry unapplied (MySQL refuses it, say)
    await r.redis.xgroup('CREATE', r.keys.stream, 'aggregators', '0');
    await r.redis.xreadgroup('GROUP', 'aggregators', 'live', 'COUNT', 1, 'STREAMS', r.keys.stream, '>');
    const behind = (await api.inject({ url: '/metrics/status' })).json();
    expect(behind).toMatchObject({ status: 'warning', bufferSize: 2, pending: 1, lag: 1, consumers: 1, activeConsumers: 1 });
    expect(behind.problems).toEqual([
      expect.stringMatching(/^the oldest entry not yet applied is 1\d\d s old: the aggregators are behind or cannot write to MySQL \(see their logs\)$/),
    ]);
    await r.redis.del(r.keys.stream);
  });

  it('GET /metrics/users lists the users who cost the most bandwidth, and counts the users', async () => {
    const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000;
    const at = (h: number) => new Date(hour - h * 3_600_000);
    await db.conn.pool.query(
      'INSERT INTO metrics_users_hourly (service, hour_start, user_id, requests, total_inbound, total_outbound) VALUES ?',
      [
        [
          ['shop', at(0), 'u1', 10, 100, 1000],
          ['shop', at(1), 'u1', 20, 0, 500],
          ['shop', at(1), 'u2', 5, 0, 3000],
          ['admin', at(0), 'u1', 1, 0, 10],
          ['shop', at(5), 'u3', 1, 0, 99_999], // before the window
        ],
      ],
    );
    const all = await api.inject({ url: '/metrics/users?hours=2' });
    expect(all.statusCode).toBe(200);
    expect(all.json()).toEqual({
      from: at(2).toISOString(),
      uniqueUsers: 2,
      users: [
        { service: 'shop', userId: 'u2', totalRequests: 5, totalInbound: 0, totalOutbound: 3000, totalBandwidth: 3000 },
        { service: 'shop', userId: 'u1', totalRequests: 30, totalInbound: 100, totalOutbound: 1500, totalBandwidth: 1600 },
        { service: 'admin', userId: 'u1', totalRequests: 1, totalInbound: 0, totalOutbound: 10, totalBandwidth: 10 },
      ],
    });
    const top = await api.inject({ url: '/metrics/users?hours=2&service=admin&limit=1' });
    expect(top.json()).toEqual({
      from: at(2).toISOString(),
      uniqueUsers: 1,
      users: [{ service: 'admin', userId: 'u1', totalRequests: 1, totalInbound: 0, totalOutbound: 10, totalBandwidth: 10 }],
    });
    expect((await api.inject({ url: '/metrics/users?limit=0' })).json().message).toBe('querystring/limit must be >= 1');
  });

  it('GET /healthz says whether Redis and MySQL answer', async () => {
    const res = await api.inject({ url: '/healthz' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', redis: 'ok', mysql: 'ok' });
  });
});

describe('the API configuration', () => {
  it('refuses a key prefix with braces at start, as the aggregator and the preload do', () => {
    expect(() => readApiConfig({ OTEL_BANDWIDTH_KEY_PREFIX: '{shop}' })).toThrow('OTEL_BANDWIDTH_KEY_PREFIX="{shop}" must not contain { or }');
    expect(readApiConfig({ OTEL_BANDWIDTH_KEY_PREFIX: 'shop' }).keyPrefix).toBe('shop');
  });

  it('reads a TLS certificate and key that are a pair, and says what is wrong with any that are not', () => {
    const a = selfSignedCertificate();
    const b = selfSignedCertificate();
    try {
      expect(readApiConfig({}).tls).toBeUndefined();
      expect(readApiConfig({ OTEL_BANDWIDTH_API_TLS_CERT: a.certFile, OTEL_BANDWIDTH_API_TLS_KEY: a.keyFile }).tls).toEqual({ cert: a.cert, key: a.key });
      expect(() => readApiConfig({ OTEL_BANDWIDTH_API_TLS_CERT: a.certFile })).toThrow(
        'OTEL_BANDWIDTH_API_TLS_CERT and OTEL_BANDWIDTH_API_TLS_KEY go together: the key is missing',
      );
      expect(() => readApiConfig({ OTEL_BANDWIDTH_API_TLS_CERT: a.certFile, OTEL_BANDWIDTH_API_TLS_KEY: '/nonexistent/key.pem' })).toThrow(
        'OTEL_BANDWIDTH_API_TLS_KEY: cannot read /nonexistent/key.pem: ENOENT',
      );
      expect(() => readApiConfig({ OTEL_BANDWIDTH_API_TLS_CERT: a.certFile, OTEL_BANDWIDTH_API_TLS_KEY: b.keyFile })).toThrow(
        `OTEL_BANDWIDTH_API_TLS_CERT and OTEL_BANDWIDTH_API_TLS_KEY (${a.certFile}, ${b.keyFile}) are not a PEM certificate and its key: `,
      );
    } finally {
      a.remove();
      b.remove();
    }
  });
});

describe('the query API with its stores down', () => {
  it('answers 503, saying which store does not answer, and /healthz says which is down', async () => {
    const port = await closedPort();
    const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    redis.on('error', () => {});
    const mysql = connectMysql(`mysql://root@127.0.0.1:${port}/down`, { connectTimeoutMs: 2000 });
    const down = buildQueryApi({ redis, mysql, keyPrefix: r.prefix });
    try {
      const health = await down.inject({ url: '/healthz' });
      expect(health.statusCode).toBe(503);
      expect(health.json()).toEqual({ status: 'unavailable', redis: 'down', mysql: 'down' });
      const realtime = await down.inject({ url: '/metrics/realtime' });
      expect(realtime.statusCode).toBe(503);
      // ioredis' reason depends on where its reconnection stands ("Connection is closed.", "Reached the max retries ...")
      expect(realtime.json().message).toMatch(new RegExp(`^Redis at 127\\.0\\.0\\.1:${port} does not answer \\(.+\\); GET /healthz says which stores are down$`));
      const hourly = await down.inject({ url: '/metrics/hourly' });
      expect(hourly.statusCode).toBe(503);
      expect(hourly.json().message).toBe(`MySQL at mysql://root@127.0.0.1:${port}/down does not answer (ECONNREFUSED); GET /healthz says which stores are down`);
      const status = await down.inject({ url: '/metrics/status' });
      expect(status.statusCode).toBe(503);
      expect(status.json().message).toMatch(new RegExp(`^Redis at 127\\.0\\.0\\.1:${port} does not answer `));
      // a bad parameter is still a 400, stores or not
      expect((await down.inject({ url: '/metrics/hourly?hours=0' })).statusCode).toBe(400);
    } finally {
      await down.close();
      redis.disconnect();
      await mysql.close();
    }
  });
});

describe('the query API with Redis frozen (it accepts, never answers)', () => {
  it('answers 503 at the client\'s command timeout, not a request that hangs', async () => {
    const silent = await hangingServer();
    const { port } = silent;
    const redis = new Redis({ host: '127.0.0.1', port, enableReadyCheck: false, commandTimeout: 300, maxRetriesPerRequest: 0 });
    redis.on('error', () => {});
    const frozen = buildQueryApi({ redis, mysql: db.conn, keyPrefix: r.prefix });
    try {
      for (const url of ['/metrics/realtime', '/metrics/status']) {
        const res = await frozen.inject({ url });
        expect([res.statusCode, res.json().message]).toEqual([503, `Redis at 127.0.0.1:${port} does not answer (Command timed out); GET /healthz says which stores are down`]);
      }
    } finally {
      await frozen.close();
      redis.disconnect();
      silent.close();
    }
  });
});

describe('the query API on a database without its tables', () => {
  it('answers 500 without the failed query, and logs it', async () => {
    const url = `${db.url}_empty`;
    await db.conn.pool.query(`CREATE DATABASE IF NOT EXISTS \`${databaseName(url)}\``);
    const mysql = connectMysql(url);
    const api = buildQueryApi({ redis: r.redis, mysql, keyPrefix: r.prefix });
    const logged: string[] = [];
    const write = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return true;
    });
    try {
      const res = await api.inject({ url: '/metrics/hourly' });
      expect(res.statusCode).toBe(500);
      expect(res.json()).toEqual({ statusCode: 500, error: 'Internal Server Error', message: 'internal error; the API logged it' });
      expect(logged.join('')).toMatch(/^otel-bandwidth api: GET \/metrics\/hourly: .*metrics_hourly/s);
    } finally {
      write.mockRestore();
      await api.close();
      await mysql.close();
      await db.conn.pool.query(`DROP DATABASE \`${databaseName(url)}\``);
    }
  });
});
