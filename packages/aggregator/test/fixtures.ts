import type { HistogramMetric, MetricBatch } from '@otel-bandwidth/core';

export const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
export const HOUR = 3_600_000;
/** 2026-11-28T10:00:00Z */
export const T0 = Date.UTC(2026, 10, 28, 10);

export interface PointSpec {
  route: string;
  method?: string;
  status?: number;
  count: number;
  durationsS: number[]; // one per request, count = length
  inBytes: number;
  outBytes: number;
}

const bucketOf = (s: number): number => {
  const i = BOUNDS.findIndex((b) => s <= b);
  return i === -1 ? BOUNDS.length : i;
};

/** A batch as the instrumentation's exporter would ship it. */
export function batch(id: string, startMs: number, endMs: number, points: PointSpec[], service = 'shop'): MetricBatch {
  const attrs = (p: PointSpec) => ({
    'http.request.method': p.method ?? 'GET',
    'http.route': p.route,
    'http.response.status_code': p.status ?? 200,
  });
  const hist = (name: string, unit: string, boundaries: number[], value: (p: PointSpec) => Partial<HistogramMetric['points'][number]>): HistogramMetric => ({
    name,
    unit,
    scope: '@otel-bandwidth/instrumentation',
    type: 'histogram',
    temporality: 'delta',
    boundaries,
    points: points.map((p) => ({ attributes: attrs(p), startTimeMs: startMs, endTimeMs: endMs, count: p.count, sum: 0, bucketCounts: [p.count], ...value(p) })),
  });
  return {
    batchId: id,
    startTimeMs: startMs,
    endTimeMs: endMs,
    resource: { 'service.name': service },
    metrics: [
      hist('http.server.request.duration', 's', BOUNDS, (p) => {
        const b = new Array<number>(BOUNDS.length + 1).fill(0);
        for (const d of p.durationsS) b[bucketOf(d)]! += 1;
        return { sum: p.durationsS.reduce((s, d) => s + d, 0), min: Math.min(...p.durationsS), max: Math.max(...p.durationsS), bucketCounts: b };
      }),
      hist('http.server.request.body.size', 'By', [], (p) => ({ sum: p.inBytes })),
      hist('http.server.response.body.size', 'By', [], (p) => ({ sum: p.outBytes })),
    ],
  };
}
