/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/**
 * The web dashboard in a real headless Chromium, against the query API over a real Redis and
 * MySQL: the figures it draws, exactly, for a fixed clock; the service filter; a store that does
 * not answer; hostile endpoint names shown as text; no script or style from anywhere else.
 *
 * Chromium: Debian's /usr/bin/chromium (apt-get install chromium), or CHROMIUM_PATH.
 */
import fs from 'node:fs';
import vm from 'node:vm';
import { MINUTE_MS, realtimeBucketField, realtimeField, realtimeSeriesCode } from '@otel-bandwidth/core';
import { buildQueryApi } from '@otel-bandwidth/query-api';
import { bandwidthAlerts, connectMysql, metricsDaily, metricsHourly, metricsUsersHourly } from '@otel-bandwidth/storage';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { closedPort, createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The clock of the API and of the page: 10:01:00, so four minutes of a 5-minute window have passed. */
const NOW = Date.parse('2026-12-05T10:01:00Z');
const HOUR = 3_600_000;
const HOSTILE = '/<img src=x onerror="window.pwned=1">';

let db: TestDatabase;
let r: TestRedis;
let api: FastifyInstance;
let apiUrl: string;
let browser: Browser;

/** A minute of the realtime view: each series' stats, and its duration bucket counts by index. */
async function realtimeMinute(
  minuteStartMs: number,
  series: Array<{ service: string; method: string; endpoint: string; stats: Record<string, number>; buckets?: Record<number, number> }>,
): Promise<void> {
  const key = r.keys.realtimeMinute(minuteStartMs);
  for (const s of series) {
    const code = realtimeSeriesCode({ service: s.service, method: s.method, endpoint: s.endpoint, protocol: 'http' });
    for (const [stat, value] of Object.entries(s.stats)) await r.redis.hset(key, realtimeField(stat as Parameters<typeof realtimeField>[0], code), String(value));
    for (const [index, count] of Object.entries(s.buckets ?? {})) await r.redis.hset(key, realtimeBucketField(Number(index), code), String(count));
  }
  await r.redis.expire(key, 3600);
}

beforeAll(async () => {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium, or set CHROMIUM_PATH`);
  db = await createTestDatabase('query_api_dashboard');
  r = await createTestRedis('query-api-dashboard');
  // the window's minutes: 09:57 ... 10:01; 09:56 is outside it. Duration buckets by index:
  // 4 (1, 2.5] ms, 5 (2.5, 5], 6 (5, 10], 8 (25, 50]; POST /api/orders has none, as an aggregator
  // from before the buckets wrote it
  await realtimeMinute(NOW - 4 * MINUTE_MS, [
    { service: 'shop', method: 'GET', endpoint: '/api/products', stats: { requests: 200, outboundBytes: 2_000_000, durationSumMs: 500, minDurationMs: 1.5, maxDurationMs: 9 }, buckets: { 4: 180, 6: 20 } },
    { service: 'shop', method: 'POST', endpoint: '/api/orders', stats: { requests: 100, inboundBytes: 1_048_576, outboundBytes: 50_000, errors: 10, durationSumMs: 400, maxDurationMs: 12 } },
  ]);
  await realtimeMinute(NOW, [
    { service: 'shop', method: 'GET', endpoint: '/api/products', stats: { requests: 100, outboundBytes: 1_000_000, durationSumMs: 250, minDurationMs: 1.2, maxDurationMs: 7 }, buckets: { 4: 95, 5: 5 } },
    { service: 'admin', method: 'GET', endpoint: HOSTILE, stats: { requests: 20, outboundBytes: 100_000, durationSumMs: 100, minDurationMs: 3, maxDurationMs: 30 }, buckets: { 5: 18, 8: 2 } },
  ]);
  await realtimeMinute(NOW - 5 * MINUTE_MS, [{ service: 'shop', method: 'GET', endpoint: '/old', stats: { requests: 1, outboundBytes: 999_999_999 } }]);
  const hour = (h: number): Date => new Date(Math.floor(NOW / HOUR) * HOUR - h * HOUR);
  await db.conn.db.insert(metricsHourly).values([
    { service: 'shop', endpoint: '/api/products', method: 'GET', hourStart: hour(0), totalRequests: 300, totalOutbound: 3_000_000, durationSumMs: 750, minResponseTime: 1, maxResponseTime: 9, durationLe2500us: 280, durationLe10ms: 20 },
    { service: 'shop', endpoint: '/api/orders', method: 'POST', hourStart: hour(0), totalRequests: 100, totalInbound: 1_048_576, totalOutbound: 50_000, minResponseTime: 11, maxResponseTime: 48, durationLe25ms: 90, durationLe50ms: 10 },
    { service: 'shop', endpoint: '/api/products', method: 'GET', hourStart: hour(2), totalRequests: 50, totalOutbound: 512_000, minResponseTime: 2, maxResponseTime: 2.5, durationLe2500us: 50 },
    { service: 'admin', endpoint: '/reports', method: 'GET', hourStart: hour(1), totalRequests: 7, totalOutbound: 70_000, minResponseTime: 120, maxResponseTime: 240, durationLe250ms: 7 },
    { service: 'shop', endpoint: '/api/products', method: 'GET', hourStart: hour(30), totalRequests: 1, totalOutbound: 1 }, // before the 24 h
  ]);
  await db.conn.db.insert(metricsUsersHourly).values([
    { service: 'shop', hourStart: hour(0), userId: 'alice', requests: 250, totalInbound: 1_000_000, totalOutbound: 2_500_000 },
    { service: 'shop', hourStart: hour(0), userId: 'bob', requests: 150, totalInbound: 48_576, totalOutbound: 550_000 },
    { service: 'admin', hourStart: hour(1), userId: 'root', requests: 7, totalInbound: 0, totalOutbound: 70_000 },
  ]);
  // days as the aggregator writes them, their figures chosen for the panel (not summed from the hours above)
  await db.conn.db.insert(metricsDaily).values([
    {
      service: 'shop', date: '2026-12-05', totalBandwidth: 4_098_576, totalInbound: 1_048_576, totalOutbound: 3_050_000, totalRequests: 400, durationSumMs: 1000,
      peakBandwidth: 4_098_576, peakHour: hour(0), uniqueUsers: 2,
    },
    { service: 'admin', date: '2026-12-05', totalBandwidth: 70_000, totalOutbound: 70_000, totalRequests: 7, durationSumMs: 1260, peakBandwidth: 70_000, peakHour: hour(1), uniqueUsers: 1 },
    { service: 'shop', date: '2026-12-04', totalBandwidth: 1, totalOutbound: 1, totalRequests: 1, errorCount: 1, peakBandwidth: 1, peakHour: hour(30) },
    { service: 'shop', date: '2026-11-20', totalBandwidth: 9, totalOutbound: 9, totalRequests: 9, peakBandwidth: 9, peakHour: new Date('2026-11-20T12:00:00Z') }, // before the 14 days
  ]);
  await db.conn.db.insert(bandwidthAlerts).values([
    {
      rule: 'shop-egress', metric: 'outbound', alertType: 'threshold', severity: 'high', message: 'outbound bandwidth of GET /api/products (shop) 12.5 KiB/s over 5 min, above 10 KiB/s (rule shop-egress)',
      metricValue: 12_800, thresholdValue: 10_240, peakValue: 12_800, service: 'shop', endpoint: '/api/products', method: 'GET', protocol: 'http',
      createdAt: new Date(NOW - 90_000), openKey: 'k1',
    },
    {
      rule: 'slow-api', metric: 'p95', alertType: 'threshold', severity: 'medium', message: 'p95 latency of POST /api/orders (shop) 812.5 ms over 5 min, above 500 ms (rule slow-api)',
      metricValue: 812.5, thresholdValue: 500, peakValue: 812.5, service: 'shop', endpoint: '/api/orders', method: 'POST', protocol: 'http',
      createdAt: new Date(NOW - 60_000), openKey: 'k3',
    },
    { rule: 'gone', metric: 'requests', alertType: 'spike', severity: 'low', message: 'resolved', metricValue: 5, createdAt: new Date(NOW - HOUR), resolvedAt: new Date(NOW - HOUR / 2) },
    {
      rule: 'all-errors', metric: 'errors', alertType: 'anomaly', severity: 'critical', message: 'error rate of all traffic 0.000412 errors/s', metricValue: 0.000412, thresholdValue: 0.0002,
      createdAt: new Date(NOW - 30_000), openKey: 'k2',
    },
  ]);
  // the API's clock (the page's is set below)
  jest.spyOn(Date, 'now').mockReturnValue(NOW);
  api = withClock(buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix }));
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] });
});
afterAll(async () => {
  await browser?.close();
  await api?.close();
  jest.restoreAllMocks();
  await db.drop();
  await r.cleanup();
});

/** The API's Date header on the test's clock too (Node writes it from the real one): the page takes its time from it. */
function withClock(app: FastifyInstance): FastifyInstance {
  app.addHook('onSend', async (_req, reply) => {
    reply.header('date', new Date(NOW).toUTCString());
  });
  return app;
}

interface Opened {
  page: Page;
  /** console errors, page errors, and requests to anywhere but the API */
  trouble: string[];
}

async function open(url: string): Promise<Opened> {
  const page = await browser.newPage();
  const trouble: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') trouble.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => trouble.push(`page: ${e.message}`));
  page.on('request', (req) => {
    if (!req.url().startsWith(new URL(url).origin)) trouble.push(`request to ${req.url()}`);
  });
  await page.clock.setFixedTime(NOW);
  await page.goto(url);
  await page.waitForFunction(() => document.body.dataset.refreshed !== undefined);
  return { page, trouble };
}

const texts = (page: Page, selector: string): Promise<string[]> => page.locator(selector).allInnerTexts();
const rows = async (page: Page, table: string): Promise<string[][]> =>
  page.locator(`${table} tbody tr`).evaluateAll((trs) => trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim())));

describe('the web dashboard', () => {
  it('serves its page, script and style with a policy that allows nothing from elsewhere, and / sends a browser to it', async () => {
    const page = await api.inject({ url: '/dashboard' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toBe(
      "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect((await api.inject({ url: '/dashboard.js' })).headers['content-type']).toBe('text/javascript; charset=utf-8');
    expect((await api.inject({ url: '/dashboard.css' })).headers['content-type']).toBe('text/css; charset=utf-8');
    const format = await api.inject({ url: '/dashboard-format.js' });
    expect(format.headers['content-type']).toBe('text/javascript; charset=utf-8');
    // the same functions as the terminal monitor's, run as a page runs them
    const window: { otelBandwidthFormat?: { formatBytes(n: number): string; formatAge(s: number): string; formatCount(n: number): string } } = {};
    vm.runInNewContext(format.body, { window });
    expect([window.otelBandwidthFormat?.formatBytes(1536), window.otelBandwidthFormat?.formatAge(90), window.otelBandwidthFormat?.formatCount(4567)]).toEqual(['1.50 KiB', '90 s', '4,567']);
    const root = await api.inject({ url: '/' });
    expect([root.statusCode, root.headers.location]).toEqual([302, 'dashboard']);
  });

  it('draws the pipeline, the window, open alerts, endpoints, hours, days, the slowest endpoints and users with exact figures', async () => {
    const { page, trouble } = await open(`${apiUrl}/`);
    expect(page.url()).toBe(`${apiUrl}/dashboard`);
    // every element the script finds by id is the only one with it
    expect(await page.evaluate(() => [...document.querySelectorAll('[id]')].map((e) => e.id).filter((id, i, all) => all.indexOf(id) !== i))).toEqual([]);
    expect(await page.locator('#pipeline-state').innerText()).toBe('HEALTHY');
    expect(await page.locator('#pipeline-figures').innerText()).toBe('backlog 0 entries · aggregators 0 active · dead-lettered 0 · last persist never');
    // 4,198,576 bytes over the 240 s of the window that have passed; the p95 of the 320 requests
    // with buckets: rank 304, 6 of the 20 in (5, 10] ms
    expect(await texts(page, '.tile .value')).toEqual(['17.1 KiB/s', '4.27 KiB/s', '12.8 KiB/s', '1.8/s', '2.4 %', '2.98 ms', '6.50 ms']);
    expect(await page.locator('#alerts-count').innerText()).toBe('(3)');
    // rates in their unit a second, a latency as its percentile in ms
    expect(await rows(page, '#alerts-table')).toEqual([
      ['CRITICAL', 'all-errors', 'all services', '0.000412 errors/s', '0.0002 errors/s', '10:00:30 (30 s ago)', 'error rate of all traffic 0.000412 errors/s'],
      ['MEDIUM', 'slow-api', 'shop POST /api/orders', 'p95 812.50 ms', 'p95 500.00 ms', '10:00:00 (60 s ago)', 'p95 latency of POST /api/orders (shop) 812.5 ms over 5 min, above 500 ms (rule slow-api)'],
      ['HIGH', 'shop-egress', 'shop GET /api/products', '12.5 KiB/s', '10.0 KiB/s', '09:59:30 (90 s ago)', 'outbound bandwidth of GET /api/products (shop) 12.5 KiB/s over 5 min, above 10 KiB/s (rule shop-egress)'],
    ]);
    // p95 from the window's buckets: GET /api/products' rank 285, 5 of the 20 in (5, 10] ms cut at
    // its slowest, 9 ms; the hostile one's rank 19, 1 of the 2 in (25, 50] cut at 30 ms
    expect(await rows(page, '#endpoints-table')).toEqual([
      ['shop', 'GET', '/api/products', '300', '0 B', '2.86 MiB', '71.5 %', '0', '2.50', '6.00', '9.00'],
      ['shop', 'POST', '/api/orders', '100', '1.00 MiB', '48.8 KiB', '26.2 %', '10', '4.00', '–', '12.00'],
      ['admin', 'GET', HOSTILE, '20', '0 B', '97.7 KiB', '2.4 %', '0', '5.00', '27.50', '30.00'],
    ]);
    // the endpoint's name is text: its markup never ran
    expect(await page.evaluate(() => (window as unknown as { pwned?: number }).pwned)).toBeUndefined();
    expect(await page.locator('#hourly-total').innerText()).toBe('since 2026-12-04 10:00 UTC: in 1.00 MiB, out 3.46 MiB, 457 requests');
    // the hours overlapping the last 24: 2026-12-04 10:00 to 2026-12-05 10:00, as /metrics/users counts them
    expect(await page.locator('#hourly-chart g').count()).toBe(25);
    expect(await page.locator('#hourly-chart g title').allTextContents()).toEqual(
      expect.arrayContaining([
        '2026-12-05T10:00 UTC: in 1.00 MiB, out 2.91 MiB, 400 requests',
        '2026-12-05T09:00 UTC: in 0 B, out 68.4 KiB, 7 requests',
        '2026-12-05T08:00 UTC: in 0 B, out 500 KiB, 50 requests',
        '2026-12-04T10:00 UTC: in 0 B, out 0 B, 0 requests',
      ]),
    );
    // the last hour a minute at a time, from Redis: 09:02 to 10:01, the minute before the window's 5 included
    expect(await page.locator('#minutes-chart g').count()).toBe(60);
    expect(await page.locator('#minutes-total').innerText()).toBe('since 09:02 UTC: in 1.00 MiB, out 957 MiB, 421 requests');
    // each minute's p95 from its own buckets: 09:57, rank 190 of 200, 10 of the 20 in (5, 10] ms;
    // 10:01, rank 114 of 120, 19 of the 23 in (2.5, 5]; 09:56 has no buckets
    expect(await page.locator('#minutes-chart g title').allTextContents()).toEqual(
      expect.arrayContaining([
        '09:56 UTC: in 0 B, out 954 MiB, 1 requests, 0 errors, p95 –',
        '09:57 UTC: in 1.00 MiB, out 1.96 MiB, 300 requests, 10 errors, p95 7.5 ms',
        '09:58 UTC: in 0 B, out 0 B, 0 requests, 0 errors, p95 –',
        '10:01 UTC: in 0 B, out 1.05 MiB, 120 requests, 0 errors, p95 4.57 ms',
      ]),
    );
    // two minutes with a p95, apart: a point each, no line
    expect([await page.locator('#minutes-chart circle.p95').count(), await page.locator('#minutes-chart polyline.p95').count()]).toEqual([2, 0]);
    expect(await page.locator('#minutes-chart text.p95').textContent()).toBe('p95 up to 7.5 ms');
    expect(await page.locator('#minutes-chart').getAttribute('aria-label')).toBe('bandwidth per minute: busiest 09:56 UTC with 954 MiB; p95 latency up to 7.5 ms');
    // p50, p95 and p99 from the summed duration buckets (GET /api/products: 330 requests in (1, 2.5] ms and 20 in (5, 9] ms)
    expect(await rows(page, '#latency-table')).toEqual([
      ['admin', 'GET', '/reports', '7', '180', '234', '239', '240', '0'],
      ['shop', 'POST', '/api/orders', '100', '18.8', '36.5', '45.7', '48', '0'],
      ['shop', 'GET', '/api/products', '350', '1.79', '5.5', '8.3', '9', '0'],
    ]);
    expect(await page.locator('#latency-shown').innerText()).toBe('');
    expect(await page.locator('#users-unique').innerText()).toBe('(3 unique)');
    expect(await rows(page, '#users-table')).toEqual([
      ['alice', 'shop', '250', '977 KiB', '2.38 MiB', '3.34 MiB'],
      ['bob', 'shop', '150', '47.4 KiB', '537 KiB', '585 KiB'],
      ['root', 'admin', '7', '0 B', '68.4 KiB', '68.4 KiB'],
    ]);
    // the days overlapping the last 14, newest first: the average from the day's duration sum, the busiest hour's start and bytes
    expect(await rows(page, '#daily-table')).toEqual([
      ['2026-12-05', 'admin', '7', '0 B', '68.4 KiB', '0', '180', '09:00', '68.4 KiB', '1'],
      ['2026-12-05', 'shop', '400', '1.00 MiB', '2.91 MiB', '0', '2.5', '10:00', '3.91 MiB', '2'],
      ['2026-12-04', 'shop', '1', '0 B', '1 B', '1', '0', '04:00', '1 B', '0'],
    ]);
    expect(await page.locator('#service option').allTextContents()).toEqual(['all services', 'admin', 'shop']);
    expect(await page.locator('#errors').isHidden()).toBe(true);
    expect(trouble).toEqual([]);
    await page.close();
  });

  it('narrows everything to the service chosen', async () => {
    const { page, trouble } = await open(`${apiUrl}/dashboard`);
    const before = Number(await page.evaluate(() => document.body.dataset.refreshed));
    await page.locator('#service').selectOption('admin');
    await page.waitForFunction((n) => Number(document.body.dataset.refreshed) > n, before);
    expect(await rows(page, '#endpoints-table')).toEqual([['admin', 'GET', HOSTILE, '20', '0 B', '97.7 KiB', '100.0 %', '0', '5.00', '27.50', '30.00']]);
    expect(await texts(page, '.tile .value')).toEqual(['417 B/s', '0 B/s', '417 B/s', '0.1/s', '0.0 %', '5.00 ms', '27.50 ms']);
    // admin's own alerts (none) and those over all services
    expect(await page.locator('#alerts-count').innerText()).toBe('(1)');
    expect((await rows(page, '#alerts-table')).map((row) => row[1])).toEqual(['all-errors']);
    expect(await rows(page, '#users-table')).toEqual([['root', 'admin', '7', '0 B', '68.4 KiB', '68.4 KiB']]);
    expect(await rows(page, '#daily-table')).toEqual([['2026-12-05', 'admin', '7', '0 B', '68.4 KiB', '0', '180', '09:00', '68.4 KiB', '1']]);
    expect(await rows(page, '#latency-table')).toEqual([['admin', 'GET', '/reports', '7', '180', '234', '239', '240', '0']]);
    expect(await page.locator('#hourly-total').innerText()).toBe('since 2026-12-04 10:00 UTC: in 0 B, out 68.4 KiB, 7 requests');
    expect(await page.locator('#minutes-total').innerText()).toBe('since 09:02 UTC: in 0 B, out 97.7 KiB, 20 requests');
    // 18 in (2.5, 5] ms and 2 in (25, 50], 3 to 30 ms: rank 19, 1 of the 2, cut at 30
    expect(await page.locator('#minutes-chart text.p95').textContent()).toBe('p95 up to 27.5 ms');
    expect(trouble).toEqual([]);
    await page.close();
  });

  it('says so, rather than stop blank, when its formatting script does not load (an API of another version answered it)', async () => {
    const page = await browser.newPage();
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.route('**/dashboard-format.js', (route) => route.fulfill({ status: 404, contentType: 'application/json', body: '{"statusCode":404}' }));
    await page.goto(`${apiUrl}/dashboard`);
    await page.locator('#errors').waitFor({ state: 'visible' });
    expect(await page.locator('#errors').innerText()).toBe('dashboard-format.js did not load: reload the page (an API of another version may have answered)');
    expect(await page.locator('#updated').innerText()).toBe('not started');
    expect(pageErrors).toEqual([]);
    await page.close();
  });

  it('GET /metrics/hours: every hour overlapping the window, summed over endpoints in MySQL, and the services seen', async () => {
    const res = await api.inject({ url: '/metrics/hours?hours=2' });
    expect(res.json()).toEqual({
      from: '2026-12-05T08:00:00.000Z',
      hours: [
        { hourStart: '2026-12-05T08:00:00.000Z', totalRequests: 50, totalInbound: 0, totalOutbound: 512_000, errorCount: 0 },
        { hourStart: '2026-12-05T09:00:00.000Z', totalRequests: 7, totalInbound: 0, totalOutbound: 70_000, errorCount: 0 },
        { hourStart: '2026-12-05T10:00:00.000Z', totalRequests: 400, totalInbound: 1_048_576, totalOutbound: 3_050_000, errorCount: 0 },
      ],
      services: ['admin', 'shop'],
    });
    const admin = (await api.inject({ url: '/metrics/hours?hours=1&service=admin' })).json() as { hours: Array<{ totalRequests: number }>; services: string[] };
    expect([admin.hours.map((h) => h.totalRequests), admin.services]).toEqual([[7, 0], ['admin', 'shop']]);
    expect((await api.inject({ url: '/metrics/hours?hours=0' })).json()).toMatchObject({ statusCode: 400, message: 'querystring/hours must be >= 1' });
  });

  it('a route that does not answer holds up only its own panel, and a panel whose route fails after answering keeps its figures, greyed', async () => {
    const { page } = await open(`${apiUrl}/dashboard`);
    const before = Number(await page.evaluate(() => document.body.dataset.refreshed));
    await page.route('**/metrics/users*', () => undefined); // never answered
    await page.route('**/metrics/alerts*', (route) => route.fulfill({ status: 503, contentType: 'application/json', body: JSON.stringify({ message: 'MySQL at x does not answer (ETIMEDOUT)' }) }));
    await page.locator('#live').uncheck();
    await page.locator('#live').check();
    await page.waitForFunction((n) => Number(document.body.dataset.refreshed) > n, before);
    expect((await texts(page, '#errors p')).sort()).toEqual(['/metrics/alerts answered 503: MySQL at x does not answer (ETIMEDOUT)', '/metrics/users did not answer in 4 s']);
    expect(await texts(page, '.tile .value')).toEqual(['17.1 KiB/s', '4.27 KiB/s', '12.8 KiB/s', '1.8/s', '2.4 %', '2.98 ms', '6.50 ms']);
    // the same filter as the figures they show: kept, and marked stale
    expect(await page.locator('section.stale').evaluateAll((s) => s.map((x) => x.id))).toEqual(['alerts', 'users']);
    expect(await page.locator('section.cleared').count()).toBe(0);
    expect(await rows(page, '#users-table')).toHaveLength(3);
    expect(await page.locator('#updated').innerText()).toBe('tried 10:01:00 UTC; last complete 0 s ago');
    await page.close();
  });

  it('says which parts a store that does not answer leaves out, and draws the rest', async () => {
    const port = await closedPort();
    const mysqlDown = connectMysql(`mysql://root@127.0.0.1:${port}/nothing`);
    const halfApi = withClock(buildQueryApi({ redis: r.redis, mysql: mysqlDown, keyPrefix: r.prefix }));
    const url = await halfApi.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { page } = await open(`${url}/dashboard`);
      const said = await texts(page, '#errors p');
      expect(said.sort()).toEqual(
        ['/metrics/alerts', '/metrics/daily', '/metrics/endpoints', '/metrics/hours', '/metrics/users'].map(
          (route) => `${route} answered 503: MySQL at mysql://root@127.0.0.1:${port}/nothing does not answer (ECONNREFUSED); GET /healthz says which stores are down`,
        ),
      );
      expect(await page.locator('#pipeline-state').innerText()).toBe('HEALTHY');
      expect(await texts(page, '.tile .value')).toEqual(['17.1 KiB/s', '4.27 KiB/s', '12.8 KiB/s', '1.8/s', '2.4 %', '2.98 ms', '6.50 ms']);
      expect(await page.locator('#updated').innerText()).toBe('tried 10:01:00 UTC; never complete');
      // the panels MySQL feeds say they have nothing, rather than show figures of another answer
      expect(await page.locator('section.cleared').evaluateAll((s) => s.map((x) => x.id))).toEqual(['alerts', 'hourly', 'daily', 'latency', 'users']);
      await page.close();
    } finally {
      await halfApi.close();
      await mysqlDown.close().catch(() => undefined);
    }
  });

  it('asks for the bearer token an API wants, sends it once given, and takes one from a link without keeping it in the address', async () => {
    const token = 'dashboard-test-token-0123456789';
    const guarded = withClock(buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, tokens: [token] }));
    const url = await guarded.listen({ host: '127.0.0.1', port: 0 });
    try {
      const { page } = await open(`${url}/dashboard`);
      expect(await page.locator('#token-box').isVisible()).toBe(true);
      expect(await texts(page, '#errors p')).toContain('/metrics/status answered 401: this API wants a bearer token; enter it above');
      const before = Number(await page.evaluate(() => document.body.dataset.refreshed));
      await page.locator('#token').fill(token);
      await page.locator('#token-use').click();
      await page.waitForFunction((n) => Number(document.body.dataset.refreshed) > n, before);
      expect(await page.locator('#token-box').isHidden()).toBe(true);
      expect(await page.locator('#errors').isHidden()).toBe(true);
      expect(await texts(page, '.tile .value')).toEqual(['17.1 KiB/s', '4.27 KiB/s', '12.8 KiB/s', '1.8/s', '2.4 %', '2.98 ms', '6.50 ms']);
      await page.close();

      // a link that carries it: used, kept for the tab, and taken out of the address bar
      const linked = await open(`${url}/dashboard#token=${token}`);
      expect(linked.page.url()).toBe(`${url}/dashboard`);
      expect(await linked.page.locator('#errors').isHidden()).toBe(true);
      expect(await linked.page.locator('#pipeline-state').innerText()).toBe('HEALTHY');
      await linked.page.close();

      // a wrong one is said to be wrong
      const wrong = await open(`${url}/dashboard#token=not-the-token-0123456789`);
      expect(await texts(wrong.page, '#errors p')).toContain('/metrics/status answered 401: the token given is not one this API takes; enter it above');
      await wrong.page.close();
    } finally {
      await guarded.close();
    }
  });
});
