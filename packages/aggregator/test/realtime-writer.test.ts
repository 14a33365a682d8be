/**
 * The realtime writer against a real Redis: what one flush adds to a minute's hash, to the same
 * minute summed per service and to the minute's ten-minute block, field by field, with one EVAL a
 * minute for the three; the duration buckets added up and the fastest and slowest request kept
 * over flushes, in minutes and blocks alike.
 */
import { BatchRollup, updateRealtimeView } from '@otel-bandwidth/aggregator';
import { DURATION_BOUNDARIES_MS, MINUTE_MS, REALTIME_BLOCK_MS, type Attributes, minuteStart, realtimeBlockStart, realtimeBucketField, realtimeField, realtimeSeriesCode, serviceTotalsSeries, type MetricBatch } from '@otel-bandwidth/core';
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
  it('adds each non-zero duration bucket and keeps the least minimum and greatest maximum over flushes, one EVAL a minute with its per-service sums', async () => {
    // two minutes of the last hour, well inside the two hours the view keeps
    const m1 = minuteStart(Date.now()) - 30 * MINUTE_MS;
    const m2 = m1 + MINUTE_MS;
    const a = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint: '/a', protocol: 'http' });
    const zero = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint: '/zero', protocol: 'http' });
    const evals = jest.spyOn(r.redis, 'eval');

    // one flush over two minutes and two series, and a call the service made (not in the view)
    await flush(requests('w:1', m1 + 1000, '/a', [3, 12, 12, 40]), requests('w:2', m1 + 2000, '/zero', [0]), requests('w:3', m2 + 1000, '/a', [0.2]), requests('w:4', m1, '/x', [7], 'client'));
    expect(evals).toHaveBeenCalledTimes(2);
    // a faster request and no slower one; then a slower one and no faster one
    await flush(requests('w:5', m1 + 3000, '/a', [2, 20]));
    await flush(requests('w:6', m1 + 4000, '/a', [30, 50]));
    expect(evals).toHaveBeenCalledTimes(4);

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

  it('adds the same updates to the minute\'s ten-minute block: a block holds its minutes summed, their least minimum and greatest maximum', async () => {
    // two blocks of the last two hours, apart from the minutes of the test above
    const B = realtimeBlockStart(Date.now()) - 8 * REALTIME_BLOCK_MS;
    const C = B + REALTIME_BLOCK_MS;
    const [m8, m9, m10] = [B + 8 * MINUTE_MS, B + 9 * MINUTE_MS, C];
    const a = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint: '/a', protocol: 'http' });
    const b = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint: '/b', protocol: 'http' });
    const evals = jest.spyOn(r.redis, 'eval');
    evals.mockClear();
    await flush(requests('k:1', m8 + 1000, '/a', [3, 12]), requests('k:2', m9 + 1000, '/a', [2, 40]), requests('k:3', m9 + 2000, '/b', [0.5]), requests('k:4', m10 + 1000, '/a', [7]));
    expect(evals).toHaveBeenCalledTimes(3);
    await flush(requests('k:5', m8 + 2000, '/a', [1]), requests('k:6', m10 + 2000, '/b', [60]));

    // B: /a 3 and 12 and 1 ms in its minute 8, 2 and 40 in its minute 9; /b 0.5 ms in minute 9
    expect(await r.redis.hgetall(r.keys.realtimeBlock(B))).toEqual({
      [realtimeField('requests', a)]: '5',
      [realtimeField('durationSumMs', a)]: '58',
      [realtimeField('minDurationMs', a)]: '1',
      [realtimeField('maxDurationMs', a)]: '40',
      // (0.5, 1] ms: 1; (1, 2.5]: 2; (2.5, 5]: 3; (10, 25]: 12; (25, 50]: 40
      [realtimeBucketField(3, a)]: '1',
      [realtimeBucketField(4, a)]: '1',
      [realtimeBucketField(5, a)]: '1',
      [realtimeBucketField(7, a)]: '1',
      [realtimeBucketField(8, a)]: '1',
      [realtimeField('requests', b)]: '1',
      [realtimeField('durationSumMs', b)]: '0.5',
      [realtimeField('minDurationMs', b)]: '0.5',
      [realtimeField('maxDurationMs', b)]: '0.5',
      [realtimeBucketField(2, b)]: '1',
    });
    // C: /a 7 ms, /b 60 ms, both in its first minute
    expect(await r.redis.hgetall(r.keys.realtimeBlock(C))).toEqual({
      [realtimeField('requests', a)]: '1',
      [realtimeField('durationSumMs', a)]: '7',
      [realtimeField('minDurationMs', a)]: '7',
      [realtimeField('maxDurationMs', a)]: '7',
      [realtimeBucketField(6, a)]: '1',
      [realtimeField('requests', b)]: '1',
      [realtimeField('durationSumMs', b)]: '60',
      [realtimeField('minDurationMs', b)]: '60',
      [realtimeField('maxDurationMs', b)]: '60',
      [realtimeBucketField(9, b)]: '1',
    });
    // and each is its minutes' hashes combined field by field
    for (const block of [B, C]) {
      const combined = new Map<string, number>();
      for (let m = block; m < block + REALTIME_BLOCK_MS; m += MINUTE_MS) {
        for (const [field, value] of Object.entries(await r.redis.hgetall(r.keys.realtimeMinute(m)))) {
          const v = Number(value);
          const was = combined.get(field);
          const keep = field.startsWith('max|') ? Math.max : field.startsWith('min|') ? Math.min : (x: number, y: number) => x + y;
          combined.set(field, was === undefined ? v : keep(was, v));
        }
      }
      const blockFields = Object.entries(await r.redis.hgetall(r.keys.realtimeBlock(block))).map(([f, v]) => [f, Number(v)]);
      expect(new Map(blockFields as Array<[string, number]>)).toEqual(combined);
    }
    expect(await r.redis.ttl(r.keys.realtimeBlock(B))).toBeGreaterThan(7000);
    // the minutes' per-service sums are not in the block: only the series are
    expect(Object.keys(await r.redis.hgetall(r.keys.realtimeBlock(B))).every((f) => !f.includes('"*"'))).toBe(true);
  });
});
