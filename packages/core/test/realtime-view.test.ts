import {
  REALTIME_DURATION_BUCKETS,
  parseRealtimeField,
  realtimeBucketField,
  realtimeField,
  realtimeSeriesCode,
  visitRealtimeHash,
  type RealtimeStat,
} from '@otel-bandwidth/core';

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

  it('visits the known fields of a hash with the bucket index, parsing each series once and skipping stats not asked for', () => {
    const other = realtimeSeriesCode({ service: 'admin', method: 'POST', endpoint: '/x', protocol: 'http' });
    const hash = {
      [realtimeField('requests', code)]: '10',
      [realtimeBucketField(4, code)]: '7',
      [realtimeBucketField(6, code)]: '3',
      [realtimeField('minDurationMs', code)]: '1.25',
      [realtimeField('requests', other)]: '2',
      [`b25|${other}`]: '1', // a bucket this version does not know: skipped
      [`zz|${other}`]: '1',
    };
    const seen: Array<[RealtimeStat, string, number, number | undefined]> = [];
    visitRealtimeHash(hash, (stat, series, _code, value, bucket) => seen.push([stat, series.service, value, bucket]));
    expect(seen).toEqual([
      ['requests', 'shop', 10, undefined],
      ['durationBucket', 'shop', 7, 4],
      ['durationBucket', 'shop', 3, 6],
      ['minDurationMs', 'shop', 1.25, undefined],
      ['requests', 'admin', 2, undefined],
    ]);
    const requestsOnly: string[] = [];
    visitRealtimeHash(hash, (stat, series) => requestsOnly.push(`${stat} ${series.service}`), new Set<RealtimeStat>(['requests']));
    expect(requestsOnly).toEqual(['requests shop', 'requests admin']);
  });
});
