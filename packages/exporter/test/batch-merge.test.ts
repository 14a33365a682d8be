/**
 * What the exporter holds while it cannot send: later intervals merged into the pending batch,
 * series by series, so that the held data stays as large as the number of series.
 */
import type { HistogramMetric, SumMetric } from '@otel-bandwidth/core';
import { mergeInto, type UnsentBatch } from '@otel-bandwidth/exporter';

const A = { 'http.request.method': 'GET', 'http.route': '/a', 'http.response.status_code': 200 };
const B = { 'http.request.method': 'POST', 'http.route': '/b', 'http.response.status_code': 201 };

function interval(startMs: number, points: Array<{ attributes: Record<string, string | number>; count: number; sum: number; min: number; max: number; buckets: number[]; hits: number }>): UnsentBatch {
  const duration: HistogramMetric = {
    name: 'http.server.request.duration',
    unit: 's',
    type: 'histogram',
    temporality: 'delta',
    boundaries: [0.01, 0.1],
    scope: 'scope',
    points: points.map((p) => ({ attributes: p.attributes, startTimeMs: startMs, endTimeMs: startMs + 5000, count: p.count, sum: p.sum, min: p.min, max: p.max, bucketCounts: p.buckets })),
  };
  const hits: SumMetric = {
    name: 'hits',
    unit: '1',
    type: 'sum',
    temporality: 'delta',
    monotonic: true,
    scope: 'scope',
    points: points.map((p) => ({ attributes: p.attributes, startTimeMs: startMs, endTimeMs: startMs + 5000, value: p.hits })),
  };
  return { startTimeMs: startMs, endTimeMs: startMs + 5000, resource: { 'service.name': 'merge' }, metrics: [duration, hits] };
}

describe('mergeInto', () => {
  it('holds at most its limit of users, adding up those it holds and counting the new ones it leaves out', () => {
    const pending = interval(0, []);
    pending.users = [{ id: 'u1', requests: 1, inboundBytes: 1, outboundBytes: 1 }];
    const later = interval(5000, []);
    later.users = [
      { id: 'u2', requests: 2, inboundBytes: 2, outboundBytes: 2 },
      { id: 'u1', requests: 3, inboundBytes: 3, outboundBytes: 3 },
      { id: 'u3', requests: 4, inboundBytes: 4, outboundBytes: 4 },
      { id: 'u4', requests: 5, inboundBytes: 5, outboundBytes: 5 },
    ];
    expect(mergeInto(pending, later, 2)).toBe(2);
    expect(pending.users).toEqual([
      { id: 'u1', requests: 4, inboundBytes: 4, outboundBytes: 4 },
      { id: 'u2', requests: 2, inboundBytes: 2, outboundBytes: 2 },
    ]);
  });

  it('adds up users over many intervals without changing the intervals merged in', () => {
    const pending = interval(0, []);
    const intervals: UnsentBatch[] = [];
    for (let i = 1; i <= 50; i++) {
      const later = interval(i * 5000, []);
      later.users = [
        { id: 'steady', requests: 1, inboundBytes: 10, outboundBytes: 100 },
        { id: `once-${i}`, requests: 1, inboundBytes: 1, outboundBytes: 1 },
      ];
      intervals.push(later);
      expect(mergeInto(pending, later, 30)).toBe(i < 30 ? 0 : 1);
    }
    expect(pending.users).toHaveLength(30);
    expect(pending.users?.[0]).toEqual({ id: 'steady', requests: 50, inboundBytes: 500, outboundBytes: 5000 });
    expect(pending.users?.[29]).toEqual({ id: 'once-29', requests: 1, inboundBytes: 1, outboundBytes: 1 });
    expect(intervals[0]?.users?.[0]).toEqual({ id: 'steady', requests: 1, inboundBytes: 10, outboundBytes: 100 });
    // a list put in its place is indexed again, not mixed with the old one
    pending.users = [{ id: 'fresh', requests: 1, inboundBytes: 0, outboundBytes: 0 }];
    const last = interval(300_000, []);
    last.users = [{ id: 'fresh', requests: 2, inboundBytes: 0, outboundBytes: 0 }, { id: 'steady', requests: 1, inboundBytes: 0, outboundBytes: 0 }];
    expect(mergeInto(pending, last, 30)).toBe(0);
    expect(pending.users).toEqual([
      { id: 'fresh', requests: 3, inboundBytes: 0, outboundBytes: 0 },
      { id: 'steady', requests: 1, inboundBytes: 0, outboundBytes: 0 },
    ]);
  });

  it('adds counts, sums, buckets and deltas series by series; min and max combine; new series join; users add up', () => {
    const pending = interval(0, [{ attributes: A, count: 2, sum: 0.02, min: 0.005, max: 0.015, buckets: [1, 1, 0], hits: 2 }]);
    pending.users = [{ id: 'u1', requests: 2, inboundBytes: 0, outboundBytes: 40 }];
    const later = interval(5000, [
      { attributes: { ...A }, count: 3, sum: 0.6, min: 0.002, max: 0.5, buckets: [1, 0, 2], hits: 3 },
      { attributes: B, count: 1, sum: 0.05, min: 0.05, max: 0.05, buckets: [0, 1, 0], hits: 1 },
    ]);
    later.users = [
      { id: 'u1', requests: 1, inboundBytes: 10, outboundBytes: 20 },
      { id: 'u2', requests: 4, inboundBytes: 0, outboundBytes: 8 },
    ];
    const laterCopy = JSON.parse(JSON.stringify(later)) as UnsentBatch;
    mergeInto(pending, later);

    expect(pending.startTimeMs).toBe(0);
    expect(pending.endTimeMs).toBe(10_000);
    const duration = pending.metrics[0] as HistogramMetric;
    expect(duration.points.map((p) => ({ route: p.attributes['http.route'], count: p.count, sum: p.sum, min: p.min, max: p.max, b: p.bucketCounts, s: p.startTimeMs, e: p.endTimeMs }))).toEqual([
      { route: '/a', count: 5, sum: 0.62, min: 0.002, max: 0.5, b: [2, 1, 2], s: 0, e: 10_000 },
      { route: '/b', count: 1, sum: 0.05, min: 0.05, max: 0.05, b: [0, 1, 0], s: 5000, e: 10_000 },
    ]);
    const hits = pending.metrics[1] as SumMetric;
    expect(hits.points.map((p) => [p.attributes['http.route'], p.value])).toEqual([
      ['/a', 5],
      ['/b', 1],
    ]);
    expect(pending.users).toEqual([
      { id: 'u1', requests: 3, inboundBytes: 10, outboundBytes: 60 },
      { id: 'u2', requests: 4, inboundBytes: 0, outboundBytes: 8 },
    ]);
    // the later batch is left as it was, even when merged into again
    mergeInto(pending, interval(10_000, [{ attributes: B, count: 1, sum: 0.05, min: 0.05, max: 0.05, buckets: [0, 1, 0], hits: 1 }]));
    expect(later).toEqual(laterCopy);
    expect((pending.metrics[0] as HistogramMetric).points[1]).toMatchObject({ count: 2, bucketCounts: [0, 2, 0] });
  });

  it('stays as large as the number of series, however many intervals are merged', () => {
    const pending = interval(0, [{ attributes: A, count: 1, sum: 0.001, min: 0.001, max: 0.001, buckets: [1, 0, 0], hits: 1 }]);
    for (let i = 1; i <= 1000; i++) {
      mergeInto(
        pending,
        interval(i * 5000, [
          { attributes: { ...A }, count: 1, sum: 0.001, min: 0.001, max: 0.001, buckets: [1, 0, 0], hits: 1 },
          { attributes: { ...B }, count: 2, sum: 0.2, min: 0.1, max: 0.1, buckets: [0, 0, 2], hits: 2 },
        ]),
      );
    }
    expect(pending.metrics.map((m) => m.points.length)).toEqual([2, 2]);
    const duration = pending.metrics[0] as HistogramMetric;
    expect(duration.points.map((p) => [p.count, p.bucketCounts])).toEqual([
      [1001, [1001, 0, 0]],
      [2000, [0, 0, 2000]],
    ]);
    expect((pending.metrics[1] as SumMetric).points.map((p) => p.value)).toEqual([1001, 2000]);
  });
});
