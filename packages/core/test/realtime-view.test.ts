import {
  MINUTE_MS,
  REALTIME_BLOCK_MS,
  REALTIME_DURATION_BUCKETS,
  REALTIME_MAX_WINDOW_MINUTES,
  REALTIME_TTL_SECONDS,
  RealtimeViewReader,
  parseRealtimeField,
  queueRealtimeHash,
  realtimeBlockMinutes,
  realtimeBlockStart,
  realtimeBucketField,
  realtimeField,
  realtimeHashFields,
  realtimeSeriesCode,
  realtimeSeriesFieldPattern,
  realtimeWindowPlan,
  redisKeys,
  type RealtimeStat,
  type SeriesIdentityKey,
} from '@otel-bandwidth/core';
import { createTestRedis } from 'test-support';

const shop = { service: 'shop', method: 'GET', endpoint: '/a|b "c"', protocol: 'http' };
const code = realtimeSeriesCode(shop);

describe('the realtime view layout', () => {
  it('names a field by stat and series, a duration bucket by its index', () => {
    expect(code).toBe('["shop","GET","/a|b \\"c\\"","http"]');
    expect(realtimeField('requests', code)).toBe(`req|${code}`);
    expect(realtimeField('minDurationMs', code)).toBe(`min|${code}`);
    expect(realtimeField('maxDurationMs', code)).toBe(`max|${code}`);
    expect(REALTIME_DURATION_BUCKETS).toBe(20);
    expect(realtimeBucketField(0, code)).toBe(`b0|${code}`);
    expect(realtimeBucketField(19, code)).toBe(`b19|${code}`);
    expect(() => realtimeBucketField(20, code)).toThrow('a duration bucket index is an integer from 0 to 19, not 20');
    expect(() => realtimeBucketField(-1, code)).toThrow('not -1');
  });

  it('parses the fields it writes, and nothing else', () => {
    expect(parseRealtimeField(realtimeField('minDurationMs', code))).toEqual({ stat: 'minDurationMs', series: shop, bucket: undefined });
    expect(parseRealtimeField(realtimeBucketField(7, code))).toEqual({ stat: 'durationBucket', series: shop, bucket: 7 });
    for (const unknown of [`b20|${code}`, `b07|${code}`, `b|${code}`, `p95|${code}`, 'req', `req|["shop"]`, 'req|{not json']) {
      expect(parseRealtimeField(unknown)).toBeUndefined();
    }
  });

  it('reads the known fields of a hash with the bucket index, in the reply\'s order, skipping stats not asked for', () => {
    const other = realtimeSeriesCode({ service: 'admin', method: 'POST', endpoint: '/x', protocol: 'http' });
    const reply = [
      realtimeField('requests', code), '10',
      realtimeBucketField(4, code), '7',
      realtimeBucketField(6, code), '3',
      realtimeField('minDurationMs', code), '1.25',
      realtimeField('requests', other), '2',
      `b25|${other}`, '1', // a bucket this version does not know: skipped
      `zz|${other}`, '1',
    ];
    const seen: Array<[RealtimeStat, string, number, number | undefined]> = [];
    new RealtimeViewReader<SeriesIdentityKey>({ series: (s) => s }).read(reply, (series, stat, value, bucket) => seen.push([stat, series.service, value, bucket]));
    expect(seen).toEqual([
      ['requests', 'shop', 10, undefined],
      ['durationBucket', 'shop', 7, 4],
      ['durationBucket', 'shop', 3, 6],
      ['minDurationMs', 'shop', 1.25, undefined],
      ['requests', 'admin', 2, undefined],
    ]);
    const requestsOnly: string[] = [];
    new RealtimeViewReader<SeriesIdentityKey>({ stats: new Set<RealtimeStat>(['requests']), series: (s) => s }).read(reply, (series, stat) =>
      requestsOnly.push(`${stat} ${series.service}`),
    );
    expect(requestsOnly).toEqual(['requests shop', 'requests admin']);
  });

  it('works out each series once a read, over all its minutes, and skips what it skipped before in every minute', () => {
    const other = realtimeSeriesCode({ service: 'admin', method: 'POST', endpoint: '/x', protocol: 'http' });
    const minute = (n: string): unknown[] => [
      realtimeField('requests', code), n,
      'req|["broken"]', n, // a malformed series: never visited
      'req|{not json', n,
      'no bar at all', n,
      `p95|${code}`, n, // an unknown stat
      realtimeField('requests', other), n, // a series the caller filters out
      realtimeBucketField(2, code), n,
    ];
    const made: string[] = [];
    const reader = new RealtimeViewReader<{ endpoint: string; requests: number; buckets: number }>({
      series: (s, seriesCode) => {
        made.push(seriesCode);
        return s.service === 'shop' ? { endpoint: s.endpoint, requests: 0, buckets: 0 } : undefined;
      },
    });
    const states = new Set<object>();
    const add = (s: { requests: number; buckets: number }, stat: RealtimeStat, n: number): void => {
      states.add(s);
      if (stat === 'requests') s.requests += n;
      else s.buckets += n;
    };
    for (const n of ['1', '2', '4']) reader.read(minute(n), add);
    // as an object (an HGETALL reply ioredis has turned into one), with nothing, with junk
    reader.read({ [realtimeField('requests', code)]: '8', 'req|["broken"]': '8' }, add);
    reader.read(null, add);
    reader.read([realtimeField('requests', code)], add); // a field without a value
    reader.read([42, '1', realtimeField('requests', code), '16'], add);
    expect(made).toEqual([code, other]);
    expect([...states]).toEqual([{ endpoint: shop.endpoint, requests: 31, buckets: 7 }]);
  });

  it('gives a value that is not a number as NaN, as Number does', () => {
    const values: number[] = [];
    new RealtimeViewReader<SeriesIdentityKey>({ series: (s) => s }).read([realtimeField('requests', code), 'x', realtimeField('errors', code), ''], (_s, _stat, n) => values.push(n));
    expect(values).toEqual([Number.NaN, 0]);
  });

  it('takes an HGETALL reply as the flat array Redis sends, an object as its entries, anything else as no field', () => {
    expect(realtimeHashFields(['a', '1', 'b', '2'])).toEqual(['a', '1', 'b', '2']);
    expect(realtimeHashFields({ a: '1', b: '2' })).toEqual(['a', '1', 'b', '2']);
    expect(realtimeHashFields(null)).toEqual([]);
    expect(realtimeHashFields(undefined)).toEqual([]);
    expect(realtimeHashFields('OK')).toEqual([]);
  });
});

describe('queueRealtimeHash', () => {
  it('gets an HGETALL reply from ioredis as the flat array Redis sends, not an object', async () => {
    const r = await createTestRedis('realtime_view_raw_hash');
    try {
      const key = r.keys.realtimeMinute(60_000);
      // __proto__ is a field like any other in an array
      await r.redis.hset(key, realtimeField('requests', code), '3', '__proto__', 'x', realtimeBucketField(0, code), '1');
      const pipeline = r.redis.pipeline();
      queueRealtimeHash(pipeline, key);
      queueRealtimeHash(pipeline, r.keys.realtimeMinute(120_000));
      const results = await pipeline.exec();
      expect(results).toEqual([
        [null, [realtimeField('requests', code), '3', '__proto__', 'x', realtimeBucketField(0, code), '1']],
        [null, []],
      ]);
    } finally {
      await r.cleanup();
    }
  });
});

describe('realtimeSeriesFieldPattern', () => {
  it('puts each given part as its JSON text in its place, glob characters escaped', () => {
    expect(realtimeSeriesFieldPattern({})).toBe('*|\\[*,*,*,*');
    expect(realtimeSeriesFieldPattern({ endpoint: '/a|b "c"' })).toBe('*|\\[*,*,"/a|b \\\\"c\\\\"",*');
    expect(realtimeSeriesFieldPattern({ service: 'shop', method: 'GET', endpoint: '/files/*?[x]' })).toBe('*|\\["shop","GET","/files/\\*\\?\\[x\\]",*');
  });

  it("has Redis's HSCAN send every field of the series it names, and of no series that differs in a named part", async () => {
    const r = await createTestRedis('realtime_view_field_pattern');
    try {
      const key = r.keys.realtimeBlock(0);
      const series = [
        shop,
        { ...shop, method: 'POST' },
        { ...shop, service: 'other' },
        { ...shop, endpoint: '/a|b' },
        { ...shop, endpoint: '/files/*?[x]' },
        { ...shop, endpoint: '/files/a?[x]' },
        { ...shop, endpoint: '/files/*?x]' },
      ];
      for (const s of series) {
        const c = realtimeSeriesCode(s);
        await r.redis.hset(key, realtimeField('requests', c), '1', realtimeBucketField(3, c), '1');
      }
      const matched = async (filter: Parameters<typeof realtimeSeriesFieldPattern>[0]): Promise<string[]> => {
        const [cursor, flat] = await r.redis.hscan(key, '0', 'MATCH', realtimeSeriesFieldPattern(filter), 'COUNT', 1000);
        expect(cursor).toBe('0');
        return flat.filter((_, i) => i % 2 === 0).sort();
      };
      const fields = (s: SeriesIdentityKey): string[] => [realtimeBucketField(3, realtimeSeriesCode(s)), realtimeField('requests', realtimeSeriesCode(s))];
      expect(await matched({ endpoint: shop.endpoint })).toEqual([...fields(series[1] as SeriesIdentityKey), ...fields(series[2] as SeriesIdentityKey), ...fields(shop)].sort());
      expect(await matched({ service: 'shop', method: 'GET', endpoint: shop.endpoint })).toEqual(fields(shop).sort());
      expect(await matched({ endpoint: '/files/*?[x]' })).toEqual(fields(series[4] as SeriesIdentityKey).sort());
      expect(await matched({ method: 'POST' })).toEqual(fields(series[1] as SeriesIdentityKey).sort());
      expect(await matched({})).toHaveLength(2 * series.length);
    } finally {
      await r.cleanup();
    }
  });
});

describe('the ten-minute blocks', () => {
  const B = Date.UTC(2026, 0, 1, 10, 0);
  const m = (n: number): number => B + n * MINUTE_MS;
  const ago = (xs: number[]): number[] => xs.map((x) => (x - B) / MINUTE_MS);

  it('are aligned to multiples of ten minutes since the epoch, each its own key', () => {
    expect(REALTIME_BLOCK_MS).toBe(600_000);
    expect([realtimeBlockStart(m(0)), realtimeBlockStart(m(9) + 59_999), realtimeBlockStart(m(10))]).toEqual([m(0), m(0), m(10)]);
    expect(ago(realtimeBlockMinutes(m(10)))).toEqual([10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(redisKeys('p').realtimeBlock(m(10))).toBe(`{p}:rtb:${m(10)}`);
  });

  it('live as long as a window can hold a whole one: an hour after they begin, the view keeps two', () => {
    expect(REALTIME_TTL_SECONDS * 1000).toBeGreaterThanOrEqual(REALTIME_MAX_WINDOW_MINUTES * MINUTE_MS + REALTIME_BLOCK_MS);
  });

  it('cover the whole blocks inside a window, the minutes outside them read one by one', () => {
    // an hour from minute 3 to minute 62: 7 minutes, 5 blocks, 3 minutes
    const hour = realtimeWindowPlan(m(3), m(62));
    expect(ago(hour.blocks)).toEqual([10, 20, 30, 40, 50]);
    expect(ago(hour.minutes)).toEqual([3, 4, 5, 6, 7, 8, 9, 60, 61, 62]);
    // the worst an hour can be: 5 blocks and 10 minutes
    for (let start = 0; start < 10; start++) {
      const p = realtimeWindowPlan(m(start), m(start + 59));
      expect(p.blocks.length * 10 + p.minutes.length).toBe(60);
      expect(p.blocks.length + p.minutes.length).toBeLessThanOrEqual(15);
    }
    // aligned: six blocks, no minute
    expect(realtimeWindowPlan(m(0), m(59))).toEqual({ blocks: [m(0), m(10), m(20), m(30), m(40), m(50)], minutes: [] });
    // one block exactly; a window shorter than a block; one as long as a block, not aligned
    expect(realtimeWindowPlan(m(10), m(19))).toEqual({ blocks: [m(10)], minutes: [] });
    expect(ago(realtimeWindowPlan(m(7), m(12)).minutes)).toEqual([7, 8, 9, 10, 11, 12]);
    expect(realtimeWindowPlan(m(11), m(20)).blocks).toEqual([]);
    expect(realtimeWindowPlan(m(5), m(5))).toEqual({ blocks: [], minutes: [m(5)] });
  });
});
