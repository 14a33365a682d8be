/**
 * GET /metrics/endpoints over rows of metrics_hourly and metrics_client_hourly written here
 * directly: each endpoint's sums over the window, its latency percentiles from the summed
 * duration buckets, every order and filter, and its 400s.
 */
import { buildQueryApi } from '@otel-bandwidth/query-api';
import { metricsClientHourly, metricsHourly } from '@otel-bandwidth/storage';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
let api: FastifyInstance;
const HOUR = 3_600_000;
const hour = (h: number): Date => new Date(Math.floor(Date.now() / HOUR) * HOUR - h * HOUR);

beforeAll(async () => {
  db = await createTestDatabase('query_api_endpoints');
  r = await createTestRedis('query_api_endpoints');
  api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix });
  await db.conn.db.insert(metricsHourly).values([
    // GET /api/a over two hours: 90 requests of 1-2.5 ms, then 10 of 6-9 ms
    {
      service: 'shop', endpoint: '/api/a', method: 'GET', hourStart: hour(0), totalRequests: 90, totalInbound: 1_000, totalOutbound: 90_000,
      totalInboundWire: 9_000, totalOutboundWire: 99_000, durationSumMs: 150, minResponseTime: 1, maxResponseTime: 2.5, errorCount: 2, successCount: 88, durationLe2500us: 90,
    },
    {
      service: 'shop', endpoint: '/api/a', method: 'GET', hourStart: hour(2), totalRequests: 10, totalOutbound: 10_000,
      totalInboundWire: 1_000, totalOutboundWire: 11_000, durationSumMs: 75, minResponseTime: 6, maxResponseTime: 9, successCount: 10, durationLe10ms: 10,
    },
    // POST /api/slow: 3 requests of 300-450 ms
    {
      service: 'shop', endpoint: '/api/slow', method: 'POST', hourStart: hour(1), totalRequests: 3, totalInbound: 3_000, totalOutbound: 300,
      durationSumMs: 1_100, minResponseTime: 300, maxResponseTime: 450, errorCount: 1, successCount: 2, durationLe500ms: 3,
    },
    // another service's endpoint: 5 requests of 12-20 ms
    {
      service: 'other', endpoint: '/x', method: 'GET', hourStart: hour(0), totalRequests: 5, totalOutbound: 50,
      durationSumMs: 80, minResponseTime: 12, maxResponseTime: 20, successCount: 5, durationLe25ms: 5,
    },
    // before the last 24 hours
    { service: 'shop', endpoint: '/api/old', method: 'GET', hourStart: hour(30), totalRequests: 1, totalOutbound: 7, durationSumMs: 2, minResponseTime: 2, maxResponseTime: 2, successCount: 1, durationLe2500us: 1 },
  ]);
  await db.conn.db.insert(metricsClientHourly).values([
    {
      service: 'shop', endpoint: 'https://api.stripe.com/v1/charges', method: 'POST', hourStart: hour(0), totalRequests: 4, totalInbound: 8_000, totalOutbound: 400,
      durationSumMs: 1_000, minResponseTime: 150, maxResponseTime: 400, successCount: 4, durationLe250ms: 2, durationLe500ms: 2,
    },
  ]);
});
afterAll(async () => {
  await api.close();
  await db.drop();
  await r.cleanup();
});

async function endpoints(query: string): Promise<{ total: number; sort: string; direction: string; endpoints: Array<Record<string, unknown>> }> {
  const res = await api.inject({ url: `/metrics/endpoints${query}` });
  expect(res.statusCode).toBe(200);
  return res.json();
}
const names = (body: { endpoints: Array<Record<string, unknown>> }): string[] => body.endpoints.map((e) => `${e.method} ${e.endpoint}`);

describe('GET /metrics/endpoints', () => {
  it('sums each endpoint over the window, with percentiles from its summed duration buckets, the most bandwidth first', async () => {
    const body = await endpoints('');
    expect(body.sort).toBe('bandwidth');
    expect(body.direction).toBe('server');
    expect(body.total).toBe(3);
    expect(names(body)).toEqual(['GET /api/a', 'POST /api/slow', 'GET /x']);
    expect(body.endpoints[0]).toEqual({
      service: 'shop',
      endpoint: '/api/a',
      method: 'GET',
      protocol: 'http',
      totalRequests: 100,
      totalInbound: 1_000,
      totalOutbound: 100_000,
      totalBandwidth: 101_000,
      totalInboundWire: 10_000,
      totalOutboundWire: 110_000,
      errorCount: 2,
      errorRate: 0.02,
      avgResponseTime: 2.25,
      minResponseTime: 1,
      maxResponseTime: 9,
      // rank 50 of the 90 in (1, 2.5 ms]; ranks 95 and 99, the 5th and 9th of the 10 in (5, 9 ms]
      p50: 1.833,
      p95: 7,
      p99: 8.6,
    });
    expect(body.endpoints[1]).toMatchObject({ totalBandwidth: 3_300, errorRate: 1 / 3, avgResponseTime: 366.667, p50: 375, p95: 442.5, p99: 448.5 });
    expect(body.endpoints[2]).toMatchObject({ service: 'other', totalBandwidth: 50, avgResponseTime: 16, p50: 16, p95: 19.6 });
  });

  it('orders by requests, errors, p95 or p99, and limits the list but not the total', async () => {
    expect(names(await endpoints('?sort=requests'))).toEqual(['GET /api/a', 'GET /x', 'POST /api/slow']);
    expect(names(await endpoints('?sort=errors'))).toEqual(['GET /api/a', 'POST /api/slow', 'GET /x']);
    expect(names(await endpoints('?sort=p95'))).toEqual(['POST /api/slow', 'GET /x', 'GET /api/a']);
    expect(names(await endpoints('?sort=p99'))).toEqual(['POST /api/slow', 'GET /x', 'GET /api/a']);
    const one = await endpoints('?sort=p95&limit=1');
    expect(names(one)).toEqual(['POST /api/slow']);
    expect(one.total).toBe(3);
    expect((await endpoints('?limit=2')).endpoints).toHaveLength(2);
  });

  it('filters by service, endpoint, method and window, and reads the calls the services made', async () => {
    expect(names(await endpoints('?service=other'))).toEqual(['GET /x']);
    expect(names(await endpoints('?method=post'))).toEqual(['POST /api/slow']);
    expect(names(await endpoints('?endpoint=/api/a&hours=1'))).toEqual(['GET /api/a']);
    expect((await endpoints('?endpoint=/api/a&hours=1')).endpoints[0]).toMatchObject({ totalRequests: 90, p50: 1.75, p99: 2.485 });
    const two = await endpoints('?hours=48');
    expect(two.total).toBe(4);
    expect(names(two)).toContain('GET /api/old');
    const client = await endpoints('?direction=client');
    expect(client.direction).toBe('client');
    expect(client.endpoints).toEqual([
      expect.objectContaining({ endpoint: 'https://api.stripe.com/v1/charges', totalInbound: 8_000, totalOutbound: 400, avgResponseTime: 250, p50: 250, p95: 385 }),
    ]);
  });

  it.each([
    ['?sort=p90', 'querystring/sort must be one of bandwidth, requests, errors, p95, p99'],
    ['?limit=0', 'querystring/limit must be >= 1'],
    ['?hours=99999', 'querystring/hours must be <= 2160'],
    ['?direction=up', 'querystring/direction must be one of server, client'],
  ])('%s is a 400 that says why', async (query, message) => {
    const res = await api.inject({ url: `/metrics/endpoints${query}` });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
  });
});
