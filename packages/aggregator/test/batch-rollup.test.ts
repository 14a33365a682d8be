import { BatchRollup, storageBucketMap, cutText } from '@otel-bandwidth/aggregator';
import { BOUNDS, HOUR, T0, batch } from './fixtures';

describe('BatchRollup', () => {
  it('adds batches by series and hour of the data time, exactly', () => {
    const r = new BatchRollup();
    r.add(batch('a:1', T0 + 1000, T0 + 6000, [
      { route: '/users/:id', count: 2, durationsS: [0.004, 0.02], inBytes: 0, outBytes: 300 },
      { route: '/orders', method: 'POST', status: 500, count: 1, durationsS: [1.2], inBytes: 50, outBytes: 20 },
    ]));
    r.add(batch('a:2', T0 + 6000, T0 + 11_000, [{ route: '/users/:id', count: 1, durationsS: [0.003], inBytes: 0, outBytes: 150 }]));
    // next hour: its own row
    r.add(batch('a:3', T0 + HOUR + 10, T0 + HOUR + 5010, [{ route: '/users/:id', count: 4, durationsS: [0.1, 0.1, 0.1, 0.1], inBytes: 0, outBytes: 600 }]));

    const rows = [...r.hourly.values()].map((b) => ({ ...b.key, hour: b.startMs - T0, ...b.totals }));
    expect(rows).toEqual([
      {
        service: 'shop', endpoint: '/users/:id', method: 'GET', protocol: 'http', direction: 'server', hour: 0,
        requests: 3, inboundBytes: 0, outboundBytes: 450, inboundWireBytes: 0, outboundWireBytes: 0, errors: 0, successes: 3,
        durationSumMs: expect.closeTo(27, 9), minDurationMs: 3, maxDurationMs: 20,
        durationBuckets: [0, 0, 0, 0, 0, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      },
      {
        service: 'shop', endpoint: '/orders', method: 'POST', protocol: 'http', direction: 'server', hour: 0,
        requests: 1, inboundBytes: 50, outboundBytes: 20, inboundWireBytes: 0, outboundWireBytes: 0, errors: 1, successes: 0,
        durationSumMs: 1200, minDurationMs: 1200, maxDurationMs: 1200,
        durationBuckets: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0],
      },
      {
        service: 'shop', endpoint: '/users/:id', method: 'GET', protocol: 'http', direction: 'server', hour: HOUR,
        requests: 4, inboundBytes: 0, outboundBytes: 600, inboundWireBytes: 0, outboundWireBytes: 0, errors: 0, successes: 4,
        durationSumMs: expect.closeTo(400, 9), minDurationMs: 100, maxDurationMs: 100,
        durationBuckets: [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      },
    ]);
    expect(r.batches).toBe(3);
    expect(r.points).toBe(12);
    expect([...r.minutely.values()].map((b) => [b.key.endpoint, b.startMs - T0, b.totals.requests])).toEqual([
      ['/users/:id', 0, 3],
      ['/orders', 0, 1],
      ['/users/:id', HOUR, 4],
    ]);
  });

  it('puts a point spanning an hour boundary in the hour of its midpoint', () => {
    const r = new BatchRollup();
    r.add(batch('b:1', T0 + HOUR - 4000, T0 + HOUR + 1000, [{ route: '/x', count: 1, durationsS: [0.001], inBytes: 1, outBytes: 1 }]));
    expect([...r.hourly.values()].map((b) => b.startMs)).toEqual([T0]);
  });

  it('ignores another scope\'s server metrics when ours are in the batch', () => {
    const b = batch('c:1', T0, T0 + 5000, [{ route: '/x', count: 2, durationsS: [0.001, 0.001], inBytes: 0, outBytes: 0 }]);
    const foreign = { ...b.metrics[0]!, scope: '@opentelemetry/instrumentation-http' } as (typeof b.metrics)[number];
    b.metrics.push(foreign);
    const r = new BatchRollup();
    r.add(b);
    expect([...r.hourly.values()][0]?.totals.requests).toBe(2);
    expect([r.ignoredPoints, r.refusedPoints]).toEqual([1, 0]);
  });

  it('maps foreign bucket boundaries onto the stored ones, conservatively', () => {
    // the semantic conventions' advice (an exporter other than ours): (0, 5 ms] lands in (2.5, 5 ms], by its upper bound
    expect(storageBucketMap(BOUNDS)).toEqual([5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    expect(storageBucketMap([0.001, 0.02, 3, 20])).toEqual([3, 7, 16, 19, 19]);
  });

  it('uses defaults for missing attributes and truncates long values', () => {
    const b = batch('d:1', T0, T0 + 5000, [{ route: 'x'.repeat(300), count: 1, durationsS: [0.001], inBytes: 0, outBytes: 0 }], '');
    const r = new BatchRollup();
    r.add(b);
    const key = [...r.hourly.values()][0]?.key;
    expect(key?.service).toBe('unknown_service');
    expect(key?.endpoint).toHaveLength(255);
  });
});

describe('BatchRollup with values storage cannot hold', () => {
  it('ignores negative or oversized sums instead of failing every flush they are in', () => {
    const b = batch('e:1', T0, T0 + 5000, [{ route: '/x', count: 1, durationsS: [0.001], inBytes: 10, outBytes: 20 }]);
    const bad = batch('e:2', T0, T0 + 5000, [{ route: '/x', count: 1, durationsS: [0.001], inBytes: -5, outBytes: 1e300 }]);
    const r = new BatchRollup();
    r.add(b);
    r.add(bad);
    const t = [...r.hourly.values()][0]!.totals;
    expect([t.requests, t.inboundBytes, t.outboundBytes]).toEqual([2, 10, 20]);
    expect([r.refusedPoints, r.ignoredPoints]).toEqual([2, 0]);
  });
});

describe('cutText', () => {
  it('cuts to the column length, never between the halves of a surrogate pair', () => {
    const emoji = '\u{1F600}'; // two UTF-16 units
    expect(cutText('abc', 3)).toBe('abc');
    expect(cutText('abcd', 3)).toBe('abc');
    expect(cutText(`aa${emoji}`, 3)).toBe('aa');
    expect(cutText(`aa${emoji}b`, 4)).toBe(`aa${emoji}`);
    expect(cutText(`${'a'.repeat(127)}${emoji}`, 128)).toBe('a'.repeat(127));
    // every result is well-formed text: a browser can put it in a URL
    expect(() => encodeURIComponent(cutText(`${'a'.repeat(127)}${emoji}`, 128))).not.toThrow();
  });
});
