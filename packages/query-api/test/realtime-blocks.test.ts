/**
 * readRealtime over the realtime view's ten-minute blocks, in a real Redis: a window that
 * straddles block boundaries reads its whole blocks from their block hashes and its edge minutes
 * from theirs, and gives exactly the answer its minutes give, worked out here by hand; so does a
 * window whose block hashes are missing (data an aggregator from before the blocks wrote: their
 * minutes are read instead), and a window shorter than a block (minutes only).
 */
import { BatchRollup, updateRealtimeView } from '@otel-bandwidth/aggregator';
import { MINUTE_MS, REALTIME_BLOCK_MS, realtimeBlockStart, realtimeField, realtimeSeriesCode } from '@otel-bandwidth/core';
import { readMinutes, readRealtime, type RealtimeResponse } from '@otel-bandwidth/query-api';
import { createTestRedis, timedRequestsBatch as requests, type TestRedis } from 'test-support';

let r: TestRedis;
/** the start of a block of the last hour and a half, aligned; the fixture's minutes are counted from it */
const T = realtimeBlockStart(Date.now()) - 6 * REALTIME_BLOCK_MS;
const at = (minutes: number): number => T + minutes * MINUTE_MS;
/** the clock of the reads: half-way through minute T+25 */
const NOW = at(25) + 30_000;


/** the keys each read asked for, in order */
let read: string[] = [];
let ctx: Parameters<typeof readRealtime>[0];

beforeAll(async () => {
  r = await createTestRedis('query_api_realtime_blocks');
  // two flushes, as two aggregators would write them
  const first = new BatchRollup();
  first.add(requests('shop', 'GET', '/a', at(-5), [5000], 9999));
  first.add(requests('shop', 'GET', '/a', at(-3), [3], 100));
  first.add(requests('shop', 'GET', '/a', at(0), [12, 40], 1000));
  first.add(requests('shop', 'GET', '/a', at(9), [2], 10));
  first.add(requests('shop', 'GET', '/a', at(19), [60], 600));
  first.add(requests('shop', 'POST', '/b', at(9), [0.5], 5));
  first.add(requests('other', 'GET', '/c', at(20), [100, 100], 400));
  await updateRealtimeView(r.redis, r.keys, first);
  const second = new BatchRollup();
  second.add(requests('shop', 'GET', '/a', at(10), [7], 70));
  second.add(requests('shop', 'GET', '/a', at(25), [20], 200));
  second.add(requests('shop', 'POST', '/b', at(10), [0.25], 5));
  second.add(requests('other', 'GET', '/c', at(5), [100], 100));
  await updateRealtimeView(r.redis, r.keys, second);
  // minutes an aggregator from before the blocks wrote: no block hash, no duration bucket
  const old = realtimeSeriesCode({ service: 'legacy', method: 'GET', endpoint: '/old', protocol: 'http' });
  for (const [m, n] of [[-33, 1], [-25, 2], [-12, 3]] as const) {
    await r.redis.hset(r.keys.realtimeMinute(at(m)), {
      [realtimeField('requests', old)]: String(n),
      [realtimeField('outboundBytes', old)]: String(50 * n),
      [realtimeField('durationSumMs', old)]: String([10, 30, 60][n - 1]),
      [realtimeField('maxDurationMs', old)]: String([10, 20, 25][n - 1]),
    });
  }
  const redis = r.redis;
  const counting = new Proxy(redis, {
    get(target, property, receiver) {
      if (property !== 'pipeline') return Reflect.get(target, property, receiver) as unknown;
      return () => {
        const pipeline = target.pipeline();
        const call = pipeline.call.bind(pipeline) as (...args: string[]) => unknown;
        (pipeline as unknown as { call: (...args: string[]) => unknown }).call = (...args: string[]) => {
          if (args[0] === 'HGETALL') read.push(args[1] as string);
          return call(...args);
        };
        const hmget = pipeline.hmget.bind(pipeline) as (...args: string[]) => unknown;
        (pipeline as unknown as { hmget: (...args: string[]) => unknown }).hmget = (...args: string[]) => {
          read.push(`HMGET ${args[0] as string}`);
          return hmget(...args);
        };
        return pipeline;
      };
    },
  });
  // the block scans of /metrics/minutes, as `HSCAN <key>` (each call: a block scanned in one has one)
  const hscan = redis.hscan.bind(redis) as unknown as (...args: Array<string | number>) => Promise<[string, string[]]>;
  (counting as unknown as { hscan: typeof hscan }).hscan = (...args) => {
    read.push(`HSCAN ${args[0] as string}`);
    return hscan(...args);
  };
  ctx = { redis: counting, mysql: undefined as never, keys: r.keys, consumerGroup: 'aggregators', bufferWarning: 0 };
});
afterAll(async () => {
  await r.cleanup();
});

/** The blocks the fixture wrote: T-10 (minute T-5), T, T+10, T+20. */
const BLOCKS = [at(-10), at(0), at(10), at(20)];

/** Runs `fn` with the block hashes `starts` renamed away (as a view written before blocks would be), then puts them back. */
async function withoutBlocks<R>(starts: number[], fn: () => Promise<R>): Promise<R> {
  for (const b of starts) await r.redis.rename(r.keys.realtimeBlock(b), `${r.keys.realtimeBlock(b)}:away`);
  try {
    return await fn();
  } finally {
    for (const b of starts) await r.redis.rename(`${r.keys.realtimeBlock(b)}:away`, r.keys.realtimeBlock(b));
  }
}

async function realtime(minutes: number, nowMs = NOW): Promise<{ body: RealtimeResponse; keys: string[] }> {
  read = [];
  const body = await readRealtime(ctx, minutes, undefined, nowMs);
  return { body, keys: read };
}

const kind = (key: string): string => key.slice(key.indexOf('}:') + 2).replace(/:\d+$/, (m) => `:${(Number(m.slice(1)) - T) / MINUTE_MS}`);
const identity = (service: string, method: string, endpoint: string) => ({ service, method, endpoint, protocol: 'http', totalInbound: 0, totalInboundWire: 0, totalOutboundWire: 0, errorCount: 0 });

/**
 * The 30 minutes T-4 to T+25: minutes T-4 to T-1, blocks T and T+10, minutes T+20 to T+25.
 * /a: 3 (T-3), 12 and 40 (T), 2 (T+9), 7 (T+10), 60 (T+19), 20 ms (T+25); 1980 bytes. Buckets
 * (1, 2.5] 1, (2.5, 5] 1, (5, 10] 1, (10, 25] 2, (25, 50] 1, (50, 75] 1, 2 to 60 ms: p50 rank 3.5,
 * half of (10, 25]; p95 and p99, ranks 6.65 and 6.93, in (50, 75] cut at 60. /c: three of
 * 100 ms (T+5 in block T, T+20 an edge minute). /b: 0.5 ms (T+9, block T) and 0.25 (T+10, block
 * T+10): (0.1, 0.25] 1, (0.25, 0.5] 1, 0.25 to 0.5 ms.
 */
const THIRTY: RealtimeResponse = {
  windowMinutes: 30,
  from: new Date(at(-4)).toISOString(),
  to: new Date(at(26)).toISOString(),
  endpoints: [
    { ...identity('shop', 'GET', '/a'), totalRequests: 7, totalOutbound: 1980, avgResponseTime: 20.571, maxResponseTime: 60, p50ResponseTime: 13.75, p95ResponseTime: 56.5, p99ResponseTime: 59.3 },
    { ...identity('other', 'GET', '/c'), totalRequests: 3, totalOutbound: 500, avgResponseTime: 100, maxResponseTime: 100, p50ResponseTime: 100, p95ResponseTime: 100, p99ResponseTime: 100 },
    { ...identity('shop', 'POST', '/b'), totalRequests: 2, totalOutbound: 10, avgResponseTime: 0.375, maxResponseTime: 0.5, p50ResponseTime: 0.25, p95ResponseTime: 0.475, p99ResponseTime: 0.495 },
  ],
  // 444.75 ms over 12 requests; p95 rank 11.4 of the 12: 2.4 of the 3 in (75, 100]
  summary: { totalBandwidth: 2490, totalInbound: 0, totalOutbound: 2490, totalRequests: 12, errorCount: 0, avgResponseTime: 37.063, p95ResponseTime: 95 },
};

describe('readRealtime over ten-minute blocks', () => {
  it('reads a window\'s whole blocks from their hashes and its edge minutes from theirs, and gives what the minutes give', async () => {
    const { body, keys } = await realtime(30);
    expect(body).toEqual(THIRTY);
    expect(keys.map(kind)).toEqual(['rtb:0', 'rtb:10', 'rt:-4', 'rt:-3', 'rt:-2', 'rt:-1', 'rt:20', 'rt:21', 'rt:22', 'rt:23', 'rt:24', 'rt:25']);
    // the same JSON, to the digit, as the window's 30 minutes read one by one
    const minutes = await withoutBlocks(BLOCKS, () => realtime(30));
    // the two (missing) block hashes and the edge minutes first, then the blocks' 20 minutes
    expect(minutes.keys).toHaveLength(2 + 10 + 20);
    expect(JSON.stringify(minutes.body)).toBe(JSON.stringify(body));
  });

  it('reads the minutes of a block whose hash does not exist, and gives the same answer', async () => {
    const { body, keys } = await withoutBlocks([at(0)], () => realtime(30));
    expect(body).toEqual(THIRTY);
    expect(JSON.stringify(body)).toBe(JSON.stringify((await realtime(30)).body));
    expect(keys.map(kind).slice(12)).toEqual(Array.from({ length: 10 }, (_, i) => `rt:${i}`));
  });

  it('an hour: 5 blocks and 10 minutes, and the minutes of the blocks only an older aggregator wrote', async () => {
    const { body, keys } = await realtime(60);
    // T-34 to T-31, blocks T-30 to T+10, T+20 to T+25; T-30 and T-20 have no block hash: their minutes
    expect(keys.map(kind)).toEqual([
      'rtb:-30', 'rtb:-20', 'rtb:-10', 'rtb:0', 'rtb:10',
      'rt:-34', 'rt:-33', 'rt:-32', 'rt:-31', 'rt:20', 'rt:21', 'rt:22', 'rt:23', 'rt:24', 'rt:25',
      ...Array.from({ length: 20 }, (_, i) => `rt:${i - 30}`),
    ]);
    expect(body).toEqual({
      windowMinutes: 60,
      from: new Date(at(-34)).toISOString(),
      to: new Date(at(26)).toISOString(),
      endpoints: [
        // /a with 5000 ms more (T-5, block T-10): (2500, 5000] 1, 2 to 5000 ms. p50 rank 4: half of
        // (10, 25]; p95 and p99, ranks 7.6 and 7.92, in (2500, 5000]
        { ...identity('shop', 'GET', '/a'), totalRequests: 8, totalOutbound: 11_979, avgResponseTime: 643, maxResponseTime: 5000, p50ResponseTime: 17.5, p95ResponseTime: 4000, p99ResponseTime: 4800 },
        { ...identity('other', 'GET', '/c'), totalRequests: 3, totalOutbound: 500, avgResponseTime: 100, maxResponseTime: 100, p50ResponseTime: 100, p95ResponseTime: 100, p99ResponseTime: 100 },
        // 1 + 2 + 3 requests in T-33 (an edge minute), T-25 and T-12 (blocks without a hash): 100 ms over 6
        { ...identity('legacy', 'GET', '/old'), totalRequests: 6, totalOutbound: 300, avgResponseTime: 16.667, maxResponseTime: 25, p50ResponseTime: null, p95ResponseTime: null, p99ResponseTime: null },
        { ...identity('shop', 'POST', '/b'), totalRequests: 2, totalOutbound: 10, avgResponseTime: 0.375, maxResponseTime: 0.5, p50ResponseTime: 0.25, p95ResponseTime: 0.475, p99ResponseTime: 0.495 },
      ],
      // 5544.75 ms over 19 requests; p95 of the 13 with buckets, rank 12.35: 0.35 of (2500, 5000]
      summary: { totalBandwidth: 12_789, totalInbound: 0, totalOutbound: 12_789, totalRequests: 19, errorCount: 0, avgResponseTime: 291.829, p95ResponseTime: 3375 },
    });
    const minutes = await withoutBlocks(BLOCKS, () => realtime(60));
    expect(JSON.stringify(minutes.body)).toBe(JSON.stringify(body));
  });

  it('a window of one whole block reads its hash alone; one shorter than a block reads minutes only', async () => {
    // T to T+9: block T. /a 12, 40, 2 ms; /c 100 ms; /b 0.5 ms
    const block = await realtime(10, at(9) + 30_000);
    expect(block.keys.map(kind)).toEqual(['rtb:0']);
    expect(block.body.endpoints.map((e) => [e.endpoint, e.totalRequests, e.totalOutbound, e.avgResponseTime, e.maxResponseTime])).toEqual([
      ['/a', 3, 1010, 18, 40],
      ['/c', 1, 100, 100, 100],
      ['/b', 1, 5, 0.5, 0.5],
    ]);
    expect(JSON.stringify((await withoutBlocks(BLOCKS, () => realtime(10, at(9) + 30_000))).body)).toBe(JSON.stringify(block.body));
    // T+1 to T+9, nine minutes: no whole block. /a 2 ms; /c 100; /b 0.5
    const nine = await realtime(9, at(9) + 30_000);
    expect(nine.keys.map(kind)).toEqual(Array.from({ length: 9 }, (_, i) => `rt:${i + 1}`));
    expect(nine.body.endpoints.map((e) => [e.endpoint, e.totalRequests, e.totalOutbound, e.avgResponseTime, e.maxResponseTime])).toEqual([
      ['/c', 1, 100, 100, 100],
      ['/a', 1, 10, 2, 2],
      ['/b', 1, 5, 0.5, 0.5],
    ]);
    // the last three minutes, T+23 to T+25: /a's 20 ms
    const three = await realtime(3);
    expect(three.keys.map(kind)).toEqual(['rt:23', 'rt:24', 'rt:25']);
    expect(three.body.summary).toMatchObject({ totalRequests: 1, totalOutbound: 200, avgResponseTime: 20, p95ResponseTime: 20 });
  });
});

describe('readMinutes with an endpoint filter, over the ten-minute blocks', () => {
  const minutes = async (filters: Omit<Parameters<typeof readMinutes>[1], 'format'>, nowMs = NOW): Promise<{ body: Awaited<ReturnType<typeof readMinutes>>; keys: string[] }> => {
    read = [];
    const body = await readMinutes(ctx, { format: 'json', ...filters }, nowMs);
    return { body, keys: read.map((k) => k.replace(/\S+$/, kind)) };
  };
  const served = (body: Awaited<ReturnType<typeof readMinutes>>): Array<[number, number, number, number]> =>
    body.minutes.flatMap((m, i) => (m.totalRequests > 0 ? [[i - 4, m.totalRequests, m.totalOutbound, m.maxResponseTime] as [number, number, number, number]] : []));

  it("asks each minute only for the series' fields the blocks name, and gives what the minutes' whole hashes give", async () => {
    // T-4 to T+25: blocks T-10 to T+20 scanned, then the fields of GET /a asked of every minute
    const a = await minutes({ minutes: 30, service: 'shop', endpoint: '/a', method: 'get' });
    expect(a.keys.filter((k) => k.startsWith('HSCAN'))).toEqual(['HSCAN rtb:-10', 'HSCAN rtb:0', 'HSCAN rtb:10', 'HSCAN rtb:20']);
    expect(a.keys.filter((k) => !k.startsWith('HSCAN'))).toEqual(Array.from({ length: 30 }, (_, i) => `HMGET rt:${i - 4}`));
    // /a: 3 ms (T-3), 12 and 40 (T), 2 (T+9), 7 (T+10), 60 (T+19), 20 (T+25)
    expect(served(a.body)).toEqual([[-3, 1, 100, 3], [0, 2, 1000, 40], [9, 1, 10, 2], [10, 1, 70, 7], [19, 1, 600, 60], [25, 1, 200, 20]]);
    expect(a.body.minutes[4]).toEqual({
      minuteStart: new Date(at(0)).toISOString(),
      totalRequests: 2,
      totalInbound: 0,
      totalOutbound: 1000,
      errorCount: 0,
      avgResponseTime: 26,
      maxResponseTime: 40,
      // (10, 25] 1, (25, 50] 1, 12 to 40 ms: rank 1.9, 0.9 of (25, 40]
      p95ResponseTime: 38.5,
    });
    const whole = await withoutBlocks(BLOCKS, () => minutes({ minutes: 30, service: 'shop', endpoint: '/a', method: 'get' }));
    expect(whole.keys.filter((k) => k.startsWith('rt:'))).toHaveLength(30);
    expect(JSON.stringify(whole.body)).toBe(JSON.stringify(a.body));
  });

  it("reads nothing of a block's minutes when the block has none of the series", async () => {
    // POST /b: 0.5 ms at T+9 (block T), 0.25 at T+10 (block T+10); blocks T-10 and T+20 have no /b
    const b = await minutes({ minutes: 30, endpoint: '/b' });
    expect(b.keys.filter((k) => !k.startsWith('HSCAN'))).toEqual(Array.from({ length: 20 }, (_, i) => `HMGET rt:${i}`));
    expect(served(b.body)).toEqual([[9, 1, 5, 0.5], [10, 1, 5, 0.25]]);
    expect(JSON.stringify((await withoutBlocks(BLOCKS, () => minutes({ minutes: 30, endpoint: '/b' }))).body)).toBe(JSON.stringify(b.body));
    // a method alone narrows the same way: GET is /a and /c
    const get = await minutes({ minutes: 30, method: 'GET' });
    expect(served(get.body).map(([m, n]) => [m, n])).toEqual([[-3, 1], [0, 2], [5, 1], [9, 1], [10, 1], [19, 1], [20, 2], [25, 1]]);
    expect(JSON.stringify((await withoutBlocks(BLOCKS, () => minutes({ minutes: 30, method: 'GET' }))).body)).toBe(JSON.stringify(get.body));
    expect(served((await minutes({ minutes: 30, endpoint: '/nowhere' })).body)).toEqual([]);
  });

  it('reads whole the minutes of the blocks without a hash', async () => {
    // T-34 to T+25: blocks T-40 (its minutes T-34 to T-31), T-30 and T-20 were never written as blocks
    const old = await minutes({ minutes: 60, service: 'legacy', endpoint: '/old' });
    expect(old.keys.filter((k) => k.startsWith('rt:'))).toEqual([...Array.from({ length: 4 }, (_, i) => `rt:${i - 34}`), ...Array.from({ length: 20 }, (_, i) => `rt:${i - 30}`)]);
    expect(old.keys.filter((k) => k.startsWith('HMGET'))).toEqual([]);
    expect(old.body.minutes.flatMap((m, i) => (m.totalRequests > 0 ? [[i - 34, m.totalRequests, m.totalOutbound, m.avgResponseTime]] : []))).toEqual([[-33, 1, 50, 10], [-25, 2, 100, 15], [-12, 3, 150, 20]]);
  });
});
