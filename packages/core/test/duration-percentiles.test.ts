import { DURATION_BOUNDARIES_MS, durationQuantile } from '@otel-bandwidth/core';

/** 20 buckets, in ms: (0,0.1] (0.1,0.25] (0.25,0.5] (0.5,1] (1,2.5] (2.5,5] (5,10] (10,25] ... (7500,10000] (10000,+Inf) */
function buckets(counts: Record<number, number>): number[] {
  return Array.from({ length: DURATION_BOUNDARIES_MS.length + 1 }, (_, i) => counts[i] ?? 0);
}

describe('durationQuantile', () => {
  it('has the boundaries in ms', () => {
    expect(DURATION_BOUNDARIES_MS).toEqual([0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]);
  });

  it('interpolates within the bucket the rank falls in, narrowed to the fastest and slowest request', () => {
    const d = { buckets: buckets({ 4: 90, 6: 10 }), minMs: 1.2, maxMs: 9 };
    // rank 50 of 90 in (1.2, 2.5]: 1.2 + 1.3 x 50/90
    expect(durationQuantile(d, 0.5)).toBe(1.922);
    // ranks 95 and 99: 5 and 9 of 10 in (5, 9]
    expect(durationQuantile(d, 0.95)).toBe(7);
    expect(durationQuantile(d, 0.99)).toBe(8.6);
    expect(durationQuantile(d, 0)).toBe(1.2);
    expect(durationQuantile(d, 1)).toBe(9);
  });

  it('keeps to the bucket bounds where the fastest and slowest are outside it', () => {
    const d = { buckets: buckets({ 7: 4, 11: 4 }), minMs: 11, maxMs: 240 };
    // rank 4 of 8: the last of (11, 25]; rank 6: half-way through (100, 240]
    expect(durationQuantile(d, 0.5)).toBe(25);
    expect(durationQuantile(d, 0.75)).toBe(170);
  });

  it('ends the last bucket at the slowest request', () => {
    const d = { buckets: buckets({ 0: 1, 19: 1 }), minMs: 0.05, maxMs: 12000 };
    // rank 1.98: 0.98 of the way from 10000 to 12000
    expect(durationQuantile(d, 0.99)).toBe(11960);
  });

  it('gives a single request its own duration', () => {
    const d = { buckets: buckets({ 9: 1 }), minMs: 60.25, maxMs: 60.25 };
    expect(durationQuantile(d, 0.5)).toBe(60.25);
    expect(durationQuantile(d, 0.99)).toBe(60.25);
  });

  it('is null without requests, and refuses a bad quantile or bucket count', () => {
    expect(durationQuantile({ buckets: buckets({}), minMs: null, maxMs: 0 }, 0.5)).toBeNull();
    expect(() => durationQuantile({ buckets: buckets({ 0: 1 }), minMs: 1, maxMs: 1 }, 1.5)).toThrow('a quantile is between 0 and 1, not 1.5');
    expect(() => durationQuantile({ buckets: [1, 2], minMs: 1, maxMs: 1 }, 0.5)).toThrow('expected 20 duration buckets, got 2');
  });
});
