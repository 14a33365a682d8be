/**
 * GET /metrics/alerts over rows of bandwidth_alerts written here directly: which alerts each
 * filter lists, in which order, with exact figures, and its 400s and 503.
 */
import { buildQueryApi } from '@otel-bandwidth/query-api';
import { bandwidthAlerts, connectMysql } from '@otel-bandwidth/storage';
import type { FastifyInstance } from 'fastify';
import { closedPort, createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
let api: FastifyInstance;

/** The API's clock while these tests run (whole seconds: the column keeps no fraction). */
const NOW = Date.parse('2026-12-05T10:00:00Z');
const MIN = 60_000;
const HOUR = 3_600_000;
const at = (msBefore: number): Date => new Date(NOW - msBefore);

beforeAll(async () => {
  db = await createTestDatabase('query_api_alerts');
  r = await createTestRedis('query_api_alerts');
  api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix });
  await db.conn.db.insert(bandwidthAlerts).values([
    // 1: open for 50 s, on an endpoint
    {
      rule: 'shop-egress', metric: 'outbound', alertType: 'threshold', severity: 'critical', message: 'shop GET /api/products sends 3200000 B/s, over 1000000',
      metricValue: 3_200_000, thresholdValue: 1_000_000, peakValue: 4_000_000, service: 'shop', endpoint: '/api/products', method: 'GET',
      protocol: 'http', createdAt: at(50_000), openKey: 'shop-egress|shop|GET|/api/products', notified: 'opened',
    },
    // 2: open for 30 h, over a whole service: older than the window, listed while open
    {
      rule: 'shop-requests', metric: 'requests', alertType: 'spike', severity: 'high', message: 'shop answers 450 req/s, 3x its usual',
      metricValue: 450, thresholdValue: 150, peakValue: 450, service: 'shop', endpoint: null, method: null, protocol: null,
      createdAt: at(30 * HOUR), openKey: 'shop-requests|shop', notified: 'opened',
    },
    // 3: resolved after 20 min, over everything, no threshold (a row from before alerts named their metric)
    {
      rule: 'all-ingress', alertType: 'anomaly', severity: 'medium', message: 'ingress 5000000 B/s is unusual',
      metricValue: 5_000_000, thresholdValue: null, peakValue: null, service: null, endpoint: null, method: null, protocol: null,
      createdAt: at(90 * MIN), resolvedAt: at(70 * MIN), notified: 'resolved',
    },
    // 4: resolved after 50 min
    {
      rule: 'admin-egress', metric: 'outbound', alertType: 'threshold', severity: 'low', message: 'admin GET /reports sends 20000 B/s, over 10000',
      metricValue: 20_000, thresholdValue: 10_000, peakValue: 25_000, service: 'admin', endpoint: '/reports', method: 'GET',
      protocol: 'http', createdAt: at(3 * HOUR), resolvedAt: at(2 * HOUR + 10 * MIN), notified: 'none',
    },
    // 5: opened 26 h ago, resolved an hour later: outside the default window
    {
      rule: 'shop-egress', metric: 'outbound', alertType: 'threshold', severity: 'critical', message: 'shop GET /api/products sends 1500000 B/s, over 1000000',
      metricValue: 1_500_000, thresholdValue: 1_000_000, peakValue: 1_800_000, service: 'shop', endpoint: '/api/products', method: 'GET',
      protocol: 'http', createdAt: at(26 * HOUR), resolvedAt: at(25 * HOUR), notified: 'resolved',
    },
    // 6: open for 10 min
    {
      rule: 'admin-egress', metric: 'outbound', alertType: 'threshold', severity: 'low', message: 'admin GET /reports sends 12000 B/s, over 10000',
      metricValue: 12_000, thresholdValue: 10_000, peakValue: 12_000, service: 'admin', endpoint: '/reports', method: 'GET',
      protocol: 'http', createdAt: at(10 * MIN), openKey: 'admin-egress|admin|GET|/reports', notified: 'opened',
    },
    // 7: opened 30 h ago, resolved 20 h ago: open during the default window, so listed in it
    {
      rule: 'bank-errors', metric: 'errors', alertType: 'anomaly', severity: 'high', message: 'bank errors 12 errors/s',
      metricValue: 12, thresholdValue: 3, peakValue: 40, service: 'bank', endpoint: null, method: null, protocol: null,
      createdAt: at(30 * HOUR), resolvedAt: at(20 * HOUR), notified: 'resolved',
    },
  ]);
  // the API's clock; the rows' times are given, not MySQL's
  jest.spyOn(Date, 'now').mockReturnValue(NOW);
});
afterAll(async () => {
  jest.restoreAllMocks();
  await api.close();
  await db.drop();
  await r.cleanup();
});

const ALERT = {
  1: {
    id: 1, rule: 'shop-egress', type: 'threshold', severity: 'critical', metric: 'outbound', service: 'shop', method: 'GET', endpoint: '/api/products', protocol: 'http',
    message: 'shop GET /api/products sends 3200000 B/s, over 1000000', value: 3_200_000, threshold: 1_000_000, peak: 4_000_000,
    openedAt: '2026-12-05T09:59:10.000Z', resolvedAt: null, durationSeconds: 50,
  },
  2: {
    id: 2, rule: 'shop-requests', type: 'spike', severity: 'high', metric: 'requests', service: 'shop', method: null, endpoint: null, protocol: null,
    message: 'shop answers 450 req/s, 3x its usual', value: 450, threshold: 150, peak: 450,
    openedAt: '2026-12-04T04:00:00.000Z', resolvedAt: null, durationSeconds: 108_000,
  },
  3: {
    id: 3, rule: 'all-ingress', type: 'anomaly', severity: 'medium', metric: null, service: null, method: null, endpoint: null, protocol: null,
    message: 'ingress 5000000 B/s is unusual', value: 5_000_000, threshold: null, peak: null,
    openedAt: '2026-12-05T08:30:00.000Z', resolvedAt: '2026-12-05T08:50:00.000Z', durationSeconds: 1200,
  },
  4: {
    id: 4, rule: 'admin-egress', type: 'threshold', severity: 'low', metric: 'outbound', service: 'admin', method: 'GET', endpoint: '/reports', protocol: 'http',
    message: 'admin GET /reports sends 20000 B/s, over 10000', value: 20_000, threshold: 10_000, peak: 25_000,
    openedAt: '2026-12-05T07:00:00.000Z', resolvedAt: '2026-12-05T07:50:00.000Z', durationSeconds: 3000,
  },
  5: {
    id: 5, rule: 'shop-egress', type: 'threshold', severity: 'critical', metric: 'outbound', service: 'shop', method: 'GET', endpoint: '/api/products', protocol: 'http',
    message: 'shop GET /api/products sends 1500000 B/s, over 1000000', value: 1_500_000, threshold: 1_000_000, peak: 1_800_000,
    openedAt: '2026-12-04T08:00:00.000Z', resolvedAt: '2026-12-04T09:00:00.000Z', durationSeconds: 3600,
  },
  6: {
    id: 6, rule: 'admin-egress', type: 'threshold', severity: 'low', metric: 'outbound', service: 'admin', method: 'GET', endpoint: '/reports', protocol: 'http',
    message: 'admin GET /reports sends 12000 B/s, over 10000', value: 12_000, threshold: 10_000, peak: 12_000,
    openedAt: '2026-12-05T09:50:00.000Z', resolvedAt: null, durationSeconds: 600,
  },
  7: {
    id: 7, rule: 'bank-errors', type: 'anomaly', severity: 'high', metric: 'errors', service: 'bank', method: null, endpoint: null, protocol: null,
    message: 'bank errors 12 errors/s', value: 12, threshold: 3, peak: 40,
    openedAt: '2026-12-04T04:00:00.000Z', resolvedAt: '2026-12-04T14:00:00.000Z', durationSeconds: 36_000,
  },
} as const;

async function get(url: string): Promise<unknown> {
  const res = await api.inject({ url });
  expect(res.statusCode).toBe(200);
  return res.json();
}

describe('GET /metrics/alerts', () => {
  it('by default lists the alerts open at some time in the last 24 h, open first, newest opened first', async () => {
    expect(await get('/metrics/alerts')).toEqual({ alerts: [ALERT[1], ALERT[6], ALERT[2], ALERT[3], ALERT[4], ALERT[7]], open: 3 });
    expect(await get('/metrics/alerts?status=all&hours=24&limit=100')).toEqual({ alerts: [ALERT[1], ALERT[6], ALERT[2], ALERT[3], ALERT[4], ALERT[7]], open: 3 });
  });

  it('status=open lists every open alert whatever its age; status=resolved those resolved in the window', async () => {
    expect(await get('/metrics/alerts?status=open')).toEqual({ alerts: [ALERT[1], ALERT[6], ALERT[2]], open: 3 });
    expect(await get('/metrics/alerts?status=open&hours=1')).toEqual({ alerts: [ALERT[1], ALERT[6], ALERT[2]], open: 3 });
    expect(await get('/metrics/alerts?status=resolved')).toEqual({ alerts: [ALERT[3], ALERT[4], ALERT[7]], open: 3 });
    expect(await get('/metrics/alerts?status=resolved&hours=48')).toEqual({ alerts: [ALERT[3], ALERT[4], ALERT[5], ALERT[7]], open: 3 });
  });

  it('hours narrows the resolved ones, never the open ones', async () => {
    expect(await get('/metrics/alerts?hours=1')).toEqual({ alerts: [ALERT[1], ALERT[6], ALERT[2]], open: 3 });
    expect(await get('/metrics/alerts?hours=2')).toEqual({ alerts: [ALERT[1], ALERT[6], ALERT[2], ALERT[3]], open: 3 });
    expect(await get('/metrics/alerts?hours=48')).toEqual({ alerts: [ALERT[1], ALERT[6], ALERT[2], ALERT[3], ALERT[4], ALERT[5], ALERT[7]], open: 3 });
  });

  it('service keeps the alerts of that service, and counts its open ones', async () => {
    expect(await get('/metrics/alerts?service=shop&hours=48')).toEqual({ alerts: [ALERT[1], ALERT[2], ALERT[5]], open: 2 });
    expect(await get('/metrics/alerts?service=admin&status=resolved')).toEqual({ alerts: [ALERT[4]], open: 1 });
    expect(await get('/metrics/alerts?service=nobody')).toEqual({ alerts: [], open: 0 });
  });

  it('limit cuts the list, not the open count', async () => {
    expect(await get('/metrics/alerts?limit=2')).toEqual({ alerts: [ALERT[1], ALERT[6]], open: 3 });
    expect(await get('/metrics/alerts?status=resolved&hours=48&limit=1')).toEqual({ alerts: [ALERT[3]], open: 3 });
  });

  it('lists a latency alert with its percentile and figures in ms', async () => {
    await db.conn.db.insert(bandwidthAlerts).values({
      rule: 'slow-api', metric: 'p95', alertType: 'threshold', severity: 'high', message: 'p95 latency of GET /api/x (api) 812.5 ms over 5 min, above 500 ms (rule slow-api)',
      metricValue: 812.5, thresholdValue: 500, peakValue: 930.25, service: 'api', endpoint: '/api/x', method: 'GET', protocol: 'http',
      createdAt: at(5 * MIN), openKey: 'slow-api|api|GET|/api/x', notified: 'opened',
    });
    try {
      expect(await get('/metrics/alerts?service=api')).toEqual({
        alerts: [
          {
            id: 8, rule: 'slow-api', type: 'threshold', severity: 'high', metric: 'p95', service: 'api', method: 'GET', endpoint: '/api/x', protocol: 'http',
            message: 'p95 latency of GET /api/x (api) 812.5 ms over 5 min, above 500 ms (rule slow-api)', value: 812.5, threshold: 500, peak: 930.25,
            openedAt: '2026-12-05T09:55:00.000Z', resolvedAt: null, durationSeconds: 300,
          },
        ],
        open: 1,
      });
    } finally {
      await db.conn.pool.query("DELETE FROM bandwidth_alerts WHERE rule = 'slow-api'");
    }
  });

  it.each([
    ['/metrics/alerts?status=closed', 'querystring/status must be one of open, resolved, all'],
    ['/metrics/alerts?hours=0', 'querystring/hours must be >= 1'],
    ['/metrics/alerts?hours=2161', 'querystring/hours must be <= 2160'],
    ['/metrics/alerts?hours=1.5', 'querystring/hours must be integer'],
    ['/metrics/alerts?limit=0', 'querystring/limit must be >= 1'],
    ['/metrics/alerts?limit=1001', 'querystring/limit must be <= 1000'],
    ['/metrics/alerts?limit=ten', 'querystring/limit must be integer'],
    ['/metrics/alerts?service=', 'querystring/service must NOT have fewer than 1 characters'],
    ['/metrics/alerts?status=open&status=all', 'querystring/status is given 2 times; give it once'],
  ])('%s is a 400 that says why', async (url, message) => {
    const res = await api.inject({ url });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
  });
});

describe('GET /metrics/alerts with MySQL down', () => {
  it('answers 503 saying MySQL does not answer', async () => {
    const port = await closedPort();
    const mysql = connectMysql(`mysql://root@127.0.0.1:${port}/down`, { connectTimeoutMs: 2000 });
    const down = buildQueryApi({ redis: r.redis, mysql, keyPrefix: r.prefix });
    try {
      const res = await down.inject({ url: '/metrics/alerts?status=open' });
      expect([res.statusCode, res.json()]).toEqual([
        503,
        {
          statusCode: 503,
          error: 'Service Unavailable',
          message: `MySQL at mysql://root@127.0.0.1:${port}/down does not answer (ECONNREFUSED); GET /healthz says which stores are down`,
        },
      ]);
    } finally {
      await down.close();
      // the route's second query may still be connecting when the first one's refusal answered: the
      // pool's end then rejects with that connection's refusal
      await mysql.close().catch(() => undefined);
    }
  });
});
