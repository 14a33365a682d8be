import {
  REALTIME_DURATION_BUCKETS,
  RealtimeViewReader,
  parseRealtimeField,
  queueRealtimeHash,
  realtimeBucketField,
  realtimeField,
  realtimeHashFields,
  realtimeSeriesCode,
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
