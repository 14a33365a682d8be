import { DURATION_BOUNDARIES_MS, DurationTally, durationQuantile } from '@otel-bandwidth/core';

const buckets = (counts: Record<number, number>): number[] => Array.from({ length: DURATION_BOUNDARIES_MS.length + 1 }, (_, i) => counts[i] ?? 0);

describe('DurationTally', () => {
  it('adds bucket counts up, keeps the least minimum and the greatest maximum', () => {
    const t = new DurationTally();
    t.addBucket(4, 3);
    t.addBucket(6, 2);
    t.addBucket(4, 5);
    t.addMin(2);
    t.addMin(1.2);
    t.addMin(1.5);
    t.addMax(7);
    t.addMax(9);
    t.addMax(8);
    expect(t.distribution()).toEqual({ buckets: buckets({ 4: 8, 6: 2 }), minMs: 1.2, maxMs: 9 });
  });

  it('adds other tallies, whose missing parts change nothing', () => {
    const a = new DurationTally();
    a.addBucket(0, 1);
    a.addMin(0.05);
    a.addMax(0.05);
    const b = new DurationTally();
    b.addBucket(0, 2);
    b.addBucket(19, 1);
    b.addMin(0.08);
    b.addMax(12_000);
    const sum = new DurationTally();
    sum.addTally(a);
    sum.addTally(b);
    sum.addTally(new DurationTally());
    expect(sum.distribution()).toEqual({ buckets: buckets({ 0: 3, 19: 1 }), minMs: 0.05, maxMs: 12_000 });
    // what durationQuantile makes of it: rank 3.96 of 4, 0.96 of the way from 10000 to 12000
    expect(durationQuantile(sum.distribution()!, 0.99)).toBe(11_920);
  });

  it('has no distribution until a bucket is counted; a minimum it never saw is null', () => {
    const t = new DurationTally();
    t.addMin(3);
    t.addMax(5);
    expect(t.distribution()).toBeUndefined();
    const fromEmpty = new DurationTally();
    fromEmpty.addTally(t);
    expect(fromEmpty.distribution()).toBeUndefined();
    const noMin = new DurationTally();
    noMin.addBucket(5, 1);
    noMin.addMax(4);
    expect(noMin.distribution()).toEqual({ buckets: buckets({ 5: 1 }), minMs: null, maxMs: 4 });
  });

  it('ignores values that are not counts or durations, and refuses a bucket index out of range', () => {
    const t = new DurationTally();
    t.addBucket(1, Number.NaN);
    t.addBucket(1, -1);
    t.addBucket(1, 2);
    t.addMin(Number.NaN);
    t.addMin(-1);
    t.addMax(Number.POSITIVE_INFINITY);
    expect(t.distribution()).toEqual({ buckets: buckets({ 1: 2 }), minMs: null, maxMs: 0 });
    expect(() => t.addBucket(20, 1)).toThrow('a duration bucket index is an integer from 0 to 19, not 20');
    expect(() => t.addBucket(1.5, 1)).toThrow('a duration bucket index is an integer from 0 to 19, not 1.5');
  });
});
