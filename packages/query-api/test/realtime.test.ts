/**
 * GET /metrics/realtime over a realtime view the aggregator's writer filled, in a real Redis: the
 * window's totals and latency percentiles, from duration buckets summed over minutes and series
 * and narrowed to the window's fastest and slowest request; an endpoint of a view written without
 * buckets (null percentiles); the service filter. MySQL is not read: the API's connection points
 * at a port nothing listens on.
 */
import { BatchRollup, updateRealtimeView } from '@otel-bandwidth/aggregator';
import { MINUTE_MS, REALTIME_DURATION_BUCKETS, minuteStart, realtimeBlockStart, realtimeField, realtimeSeriesCode } from '@otel-bandwidth/core';
import { buildQueryApi, type RealtimeResponse } from '@otel-bandwidth/query-api';
import { connectMysql, type MysqlConnection } from '@otel-bandwidth/storage';
import type { FastifyInstance } from 'fastify';
import { closedPort, createTestRedis, timedRequestsBatch as requests, type TestRedis } from 'test-support';

/** The clock of the writer and the API: half-way through a minute of the last hour. */
const NOW = minuteStart(Date.now()) - 10 * MINUTE_MS + 30_000;
/** The start of the window's minute `ago` minutes before the one now running. */
const minute = (ago: number): number => minuteStart(NOW) - ago * MINUTE_MS;

let r: TestRedis;
let mysql: MysqlConnection;
let api: FastifyInstance;


beforeAll(async () => {
  r = await createTestRedis('query_api_realtime');
  mysql = connectMysql(`mysql://root@127.0.0.1:${await closedPort()}/nothing`);
  jest.spyOn(Date, 'now').mockReturnValue(NOW);
  // two flushes, as two aggregators would write them
  const first = new BatchRollup();
  first.add(requests('shop', 'GET', '/a', minute(3), [2, 3, 12, 12, 40], 7000));
  first.add(requests('shop', 'POST', '/b', minute(1), [0.3, 0.4], 200));
  first.add(requests('other', 'GET', '/c', minute(2), [100, 100, 100, 100], 400));
  // before the 5-minute window
  first.add(requests('shop', 'GET', '/a', minute(5), [5000], 1));
  await updateRealtimeView(r.redis, r.keys, first);
  const second = new BatchRollup();
  second.add(requests('shop', 'GET', '/a', minute(0), [20, 60], 3000));
  await updateRealtimeView(r.redis, r.keys, second);
  // a minute as an aggregator from before the duration buckets wrote it: no bucket, no minimum
  const old = realtimeSeriesCode({ service: 'legacy', method: 'GET', endpoint: '/old', protocol: 'http' });
  await r.redis.hset(r.keys.realtimeMinute(minute(2)), {
    [realtimeField('requests', old)]: '3',
    [realtimeField('outboundBytes', old)]: '300',
    [realtimeField('durationSumMs', old)]: '30',
    [realtimeField('maxDurationMs', old)]: '15',
  });
  // a minute only an aggregator from before the per-service hash wrote: no per-service hash
  const older = realtimeSeriesCode({ service: 'legacy', method: 'GET', endpoint: '/older', protocol: 'http' });
  await r.redis.hset(r.keys.realtimeMinute(minute(7)), { [realtimeField('requests', older)]: '2', [realtimeField('outboundBytes', older)]: '50', [realtimeField('durationSumMs', older)]: '9' });
  // fields a reader skips, in two minutes of the window and in both hashes of a minute, so that
  // the second minute meets them again: unknown codes, malformed series, a bucket past the last
  const shopA = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint: '/a', protocol: 'http' });
  for (const m of [minute(3), minute(0)]) {
    const junk = { [`p95|${shopA}`]: '1', 'req|["shop","GET","/a"]': '100', 'req|{"shop"': '100', [`b${REALTIME_DURATION_BUCKETS}|${shopA}`]: '100', 'req': '100' };
    await r.redis.hset(r.keys.realtimeMinute(m), junk);
    await r.redis.hset(r.keys.realtimeServiceMinute(m), junk);
  }
  api = buildQueryApi({ redis: r.redis, mysql, keyPrefix: r.prefix });
});
afterAll(async () => {
  await api?.close();
  jest.restoreAllMocks();
  await mysql?.close().catch(() => undefined);
  await r.cleanup();
});

async function realtime(query: string): Promise<RealtimeResponse> {
  const res = await api.inject({ url: `/metrics/realtime?${query}` });
  expect(res.statusCode).toBe(200);
  return res.json() as RealtimeResponse;
}

const identity = (service: string, method: string, endpoint: string) => ({ service, method, endpoint, protocol: 'http', totalInbound: 0, totalInboundWire: 0, totalOutboundWire: 0, errorCount: 0 });

describe('GET /metrics/realtime', () => {
  it('gives each endpoint its percentiles from the buckets summed over the window, narrowed to its fastest and slowest request', async () => {
    const body = await realtime('minutes=5');
    expect([body.windowMinutes, body.from, body.to]).toEqual([5, new Date(minute(4)).toISOString(), new Date(minute(-1)).toISOString()]);
    expect(body.endpoints).toEqual([
      {
        // two minutes, two flushes: (1, 2.5] 1, (2.5, 5] 1, (10, 25] 3, (25, 50] 1, (50, 75] 1; 2 to 60 ms.
        // p50, rank 3.5: 1.5 of 3 in (10, 25]; p95 and p99, ranks 6.65 and 6.93: in (50, 75] cut at 60
        ...identity('shop', 'GET', '/a'),
        totalRequests: 7, totalOutbound: 10_000, avgResponseTime: 21.286, maxResponseTime: 60,
        p50ResponseTime: 17.5, p95ResponseTime: 56.5, p99ResponseTime: 59.3,
      },
      {
        // all four in (75, 100] ms, narrowed to 100-100
        ...identity('other', 'GET', '/c'),
        totalRequests: 4, totalOutbound: 400, avgResponseTime: 100, maxResponseTime: 100,
        p50ResponseTime: 100, p95ResponseTime: 100, p99ResponseTime: 100,
      },
      {
        // no bucket in the view: no percentile, the rest as before
        ...identity('legacy', 'GET', '/old'),
        totalRequests: 3, totalOutbound: 300, avgResponseTime: 10, maxResponseTime: 15,
        p50ResponseTime: null, p95ResponseTime: null, p99ResponseTime: null,
      },
      {
        // both in (0.25, 0.5] ms, narrowed to 0.3-0.4
        ...identity('shop', 'POST', '/b'),
        totalRequests: 2, totalOutbound: 200, avgResponseTime: 0.35, maxResponseTime: 0.4,
        p50ResponseTime: 0.35, p95ResponseTime: 0.395, p99ResponseTime: 0.399,
      },
    ]);
    // over the 13 requests with buckets (the legacy endpoint's 3 have none), 0.3 to 100 ms:
    // rank 12.35, 3.35 of the 4 in (75, 100]
    expect(body.summary).toEqual({
      totalBandwidth: 10_900, totalInbound: 0, totalOutbound: 10_900, totalRequests: 16, errorCount: 0, avgResponseTime: 36.231, p95ResponseTime: 95.938,
    });
  });

  it('narrows the endpoints and the summary percentile to the service asked for', async () => {
    const shop = await realtime('minutes=5&service=shop');
    expect(shop.endpoints.map((e) => [e.endpoint, e.p50ResponseTime, e.p95ResponseTime, e.p99ResponseTime])).toEqual([
      ['/a', 17.5, 56.5, 59.3],
      ['/b', 0.35, 0.395, 0.399],
    ]);
    // 9 requests, 0.3 to 60 ms: rank 8.55, 0.55 of the way through (50, 60]
    expect(shop.summary).toMatchObject({ totalRequests: 9, p95ResponseTime: 55.5 });
    expect((await realtime('minutes=5&service=other')).summary).toMatchObject({ totalRequests: 4, p95ResponseTime: 100 });
    // a service whose minutes have no bucket: null, not 0
    const legacy = await realtime('minutes=5&service=legacy');
    expect(legacy.summary).toMatchObject({ totalRequests: 3, avgResponseTime: 10, p95ResponseTime: null });
    // nothing in the window: null too
    expect((await realtime('minutes=5&service=nobody')).summary).toMatchObject({ totalRequests: 0, p95ResponseTime: null });
  });

  it('counts only the window\'s minutes: a shorter one leaves the older requests out', async () => {
    // the last two minutes: /a's 20 and 60 ms (its p50 is the one in (10, 25], which the
    // window's fastest, 20 ms, narrows to (20, 25]), /b's 0.3 and 0.4
    const recent = await realtime('minutes=2&service=shop');
    expect(recent.endpoints.map((e) => [e.endpoint, e.totalRequests, e.p50ResponseTime, e.p99ResponseTime])).toEqual([
      ['/a', 2, 25, 59.8],
      ['/b', 2, 0.35, 0.399],
    ]);
  });
});

describe('GET /metrics/minutes', () => {
  const zero = (ago: number) => ({
    minuteStart: new Date(minute(ago)).toISOString(), totalRequests: 0, totalInbound: 0, totalOutbound: 0, errorCount: 0, avgResponseTime: 0, maxResponseTime: 0, p95ResponseTime: null,
  });
  const at = (ago: number, figures: Record<string, number | null>) => ({ ...zero(ago), ...figures });

  it('gives every minute of the window, oldest first, each with its p95 from its own buckets', async () => {
    const res = await api.inject({ url: '/metrics/minutes?minutes=6' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      from: new Date(minute(5)).toISOString(),
      minutes: [
        // one request of 5 s
        at(5, { totalRequests: 1, totalOutbound: 1, avgResponseTime: 5000, maxResponseTime: 5000, p95ResponseTime: 5000 }),
        zero(4),
        // 2, 3, 12, 12, 40 ms: rank 4.75 in (25, 50], cut at 40
        at(3, { totalRequests: 5, totalOutbound: 7000, avgResponseTime: 13.8, maxResponseTime: 40, p95ResponseTime: 36.25 }),
        // /c's four of 100 ms from the per-service hash; the legacy endpoint's three, which an
        // older aggregator wrote into the same minute's full hash only, are not in it
        at(2, { totalRequests: 4, totalOutbound: 400, avgResponseTime: 100, maxResponseTime: 100, p95ResponseTime: 100 }),
        at(1, { totalRequests: 2, totalOutbound: 200, avgResponseTime: 0.35, maxResponseTime: 0.4, p95ResponseTime: 0.395 }),
        // 20 and 60 ms: rank 1.9, 0.9 of (50, 60]
        at(0, { totalRequests: 2, totalOutbound: 3000, avgResponseTime: 40, maxResponseTime: 60, p95ResponseTime: 59 }),
      ],
    });
  });

  it('keeps only the service, endpoint and method asked for, and answers CSV', async () => {
    const a = await api.inject({ url: '/metrics/minutes?minutes=4&service=shop&endpoint=/a&method=get' });
    expect(a.json().minutes.map((m: { totalRequests: number; p95ResponseTime: number | null }) => [m.totalRequests, m.p95ResponseTime])).toEqual([[5, 36.25], [0, null], [0, null], [2, 59]]);
    // with an endpoint named, the series' fields that the minute's ten-minute block names: the
    // legacy endpoint's three, which an older aggregator wrote into a minute whose block a newer
    // one wrote, are not in the block (the upgrade caveat); minutes without a block hash are read
    // whole (realtime-blocks.test.ts)
    const legacy = await api.inject({ url: '/metrics/minutes?minutes=3&service=legacy&endpoint=/old' });
    expect(legacy.json().minutes[0]).toEqual(zero(2));
    const block = r.keys.realtimeBlock(realtimeBlockStart(minute(2)));
    await r.redis.rename(block, `${block}:away`);
    try {
      const whole = await api.inject({ url: '/metrics/minutes?minutes=3&service=legacy&endpoint=/old' });
      expect(whole.json().minutes[0]).toEqual(at(2, { totalRequests: 3, totalOutbound: 300, avgResponseTime: 10, maxResponseTime: 15, p95ResponseTime: null }));
    } finally {
      await r.redis.rename(`${block}:away`, block);
    }
    // a minute without a per-service hash is read from its full hash
    const older = await api.inject({ url: '/metrics/minutes?minutes=8&service=legacy' });
    expect(older.json().minutes[0]).toEqual(at(7, { totalRequests: 2, totalOutbound: 50, avgResponseTime: 4.5, p95ResponseTime: null }));
    const csv = await api.inject({ url: '/metrics/minutes?minutes=2&format=csv' });
    expect(csv.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(csv.body).toBe(
      'minuteStart,totalRequests,totalInbound,totalOutbound,errorCount,avgResponseTime,maxResponseTime,p95ResponseTime\r\n' +
        `${new Date(minute(1)).toISOString()},2,0,200,0,0.35,0.4,0.395\r\n` +
        `${new Date(minute(0)).toISOString()},2,0,3000,0,40,60,59\r\n`,
    );
  });

  it('refuses a window longer than the view keeps', async () => {
    const res = await api.inject({ url: '/metrics/minutes?minutes=121' });
    expect(res.statusCode).toBe(400);
    expect(res.json().message).toBe('querystring/minutes must be <= 120');
  });
});
