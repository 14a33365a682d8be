/**
 * The realtime writer against a real Redis: what one flush adds to a minute's hash and to the
 * same minute summed per service, field by field, with one EVAL a minute for each; the duration
 * buckets added up and the fastest and slowest request kept over flushes.
 */
import { BatchRollup, updateRealtimeView } from '@otel-bandwidth/aggregator';
import { DURATION_BOUNDARIES_MS, MINUTE_MS, type Attributes, minuteStart, realtimeBucketField, realtimeField, realtimeSeriesCode, serviceTotalsSeries, type MetricBatch } from '@otel-bandwidth/core';
import { createTestRedis, type TestRedis } from 'test-support';

let r: TestRedis;
beforeAll(async () => {
  r = await createTestRedis('realtime_writer');
});
afterAll(async () => {
  jest.restoreAllMocks();
  await r.cleanup();
});

/** A batch of server requests to GET <route> of shop taking `ms` each, with the storage buckets' own bounds (ms). */
function requests(id: string, atMs: number, route: string, ms: number[], direction: 'server' | 'client' = 'server'): MetricBatch {
  const counts = new Array<number>(DURATION_BOUNDARIES_MS.length + 1).fill(0);
  for (const d of ms) {
    const i = DURATION_BOUNDARIES_MS.findIndex((b) => d <= b);
    counts[i === -1 ? DURATION_BOUNDARIES_MS.length : i]! += 1;
  }
  const attributes: Attributes =
    direction === 'server'
      ? { 'http.request.method': 'GET', 'http.route': route, 'http.response.status_code': 200 }
      : { 'http.request.method': 'GET', 'server.address': 'api.example.com', 'url.template': route, 'http.response.status_code': 200 };
  return {
    batchId: id,
    startTimeMs: atMs,
    endTimeMs: atMs + 1000,
    resource: { 'service.name': 'shop' },
    metrics: [
      {
        name: direction === 'server' ? 'http.server.request.duration' : 'http.client.request.duration',
        unit: 'ms',
        type: 'histogram',
        temporality: 'delta',
        boundaries: [...DURATION_BOUNDARIES_MS],
        points: [
          { attributes, startTimeMs: atMs, endTimeMs: atMs + 1000, count: ms.length, sum: ms.reduce((s, d) => s + d, 0), min: Math.min(...ms), max: Math.max(...ms), bucketCounts: counts },
        ],
      },
    ],
  };
}

async function flush(...batches: MetricBatch[]): Promise<void> {
  const rollup = new BatchRollup();
  for (const b of batches) rollup.add(b);
  await updateRealtimeView(r.redis, r.keys, rollup);
}

describe('the realtime writer', () => {
  it('adds each non-zero duration bucket and keeps the least minimum and greatest maximum over flushes, one EVAL a minute and one for its per-service sums', async () => {
    // two minutes of the last hour, well inside the two hours the view keeps
    const m1 = minuteStart(Date.now()) - 30 * MINUTE_MS;
    const m2 = m1 + MINUTE_MS;
    const a = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint: '/a', protocol: 'http' });
    const zero = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint: '/zero', protocol: 'http' });
    const evals = jest.spyOn(r.redis, 'eval');

    // one flush over two minutes and two series, and a call the service made (not in the view)
    await flush(requests('w:1', m1 + 1000, '/a', [3, 12, 12, 40]), requests('w:2', m1 + 2000, '/zero', [0]), requests('w:3', m2 + 1000, '/a', [0.2]), requests('w:4', m1, '/x', [7], 'client'));
    expect(evals).toHaveBeenCalledTimes(4);
    // a faster request and no slower one; then a slower one and no faster one
    await flush(requests('w:5', m1 + 3000, '/a', [2, 20]));
    await flush(requests('w:6', m1 + 4000, '/a', [30, 50]));
    expect(evals).toHaveBeenCalledTimes(8);

    const first = await r.redis.hgetall(r.keys.realtimeMinute(m1));
    expect(first).toEqual({
      [realtimeField('requests', a)]: '8',
      [realtimeField('durationSumMs', a)]: '169',
      [realtimeField('minDurationMs', a)]: '2',
      [realtimeField('maxDurationMs', a)]: '50',
      // (1, 2.5] ms: 2; (2.5, 5]: 3; (10, 25]: 12, 12, 20; (25, 50]: 30, 40, 50
      [realtimeBucketField(4, a)]: '1',
      [realtimeBucketField(5, a)]: '1',
      [realtimeBucketField(7, a)]: '3',
      [realtimeBucketField(8, a)]: '3',
      // a request of 0 ms: its minimum is kept, its maximum (0) is not written
      [realtimeField('requests', zero)]: '1',
      [realtimeField('minDurationMs', zero)]: '0',
      [realtimeBucketField(0, zero)]: '1',
    });
    expect(await r.redis.hgetall(r.keys.realtimeMinute(m2))).toEqual({
      [realtimeField('requests', a)]: '1',
      [realtimeField('durationSumMs', a)]: '0.2',
      [realtimeField('minDurationMs', a)]: '0.2',
      [realtimeField('maxDurationMs', a)]: '0.2',
      [realtimeBucketField(1, a)]: '1',
    });
    // the service's sums: /a and /zero together, the least minimum and greatest maximum of both
    const shop = realtimeSeriesCode(serviceTotalsSeries('shop'));
    expect(await r.redis.hgetall(r.keys.realtimeServiceMinute(m1))).toEqual({
      [realtimeField('requests', shop)]: '9',
      [realtimeField('durationSumMs', shop)]: '169',
      [realtimeField('minDurationMs', shop)]: '0',
      [realtimeField('maxDurationMs', shop)]: '50',
      [realtimeBucketField(0, shop)]: '1',
      [realtimeBucketField(4, shop)]: '1',
      [realtimeBucketField(5, shop)]: '1',
      [realtimeBucketField(7, shop)]: '3',
      [realtimeBucketField(8, shop)]: '3',
    });
    expect(await r.redis.hgetall(r.keys.realtimeServiceMinute(m2))).toEqual({
      [realtimeField('requests', shop)]: '1',
      [realtimeField('durationSumMs', shop)]: '0.2',
      [realtimeField('minDurationMs', shop)]: '0.2',
      [realtimeField('maxDurationMs', shop)]: '0.2',
      [realtimeBucketField(1, shop)]: '1',
    });
    expect(await r.redis.ttl(r.keys.realtimeMinute(m1))).toBeGreaterThan(7000);
    expect(await r.redis.ttl(r.keys.realtimeServiceMinute(m1))).toBeGreaterThan(7000);
  });
});
