import { DURATION_BOUNDARIES_MS, type MetricBatch } from '@otel-bandwidth/core';

/**
 * A wire batch of `service`'s requests to <method> <route>, one taking each of `ms`, with
 * `outBytes` response body bytes in all, in the minute that starts at `atMs`: the duration
 * histogram (buckets, sum, min, max) and the response size, as an exporter sends them.
 */
export function timedRequestsBatch(service: string, method: string, route: string, atMs: number, ms: number[], outBytes = 0): MetricBatch {
  const counts = new Array<number>(DURATION_BOUNDARIES_MS.length + 1).fill(0);
  for (const d of ms) {
    const i = DURATION_BOUNDARIES_MS.findIndex((b) => d <= b);
    counts[i === -1 ? DURATION_BOUNDARIES_MS.length : i]! += 1;
  }
  const attributes = { 'http.request.method': method, 'http.route': route, 'http.response.status_code': 200 };
  const point = { attributes, startTimeMs: atMs + 1000, endTimeMs: atMs + 2000, count: ms.length };
  return {
    batchId: `${service}:${method}:${route}:${atMs}`,
    startTimeMs: atMs + 1000,
    endTimeMs: atMs + 2000,
    resource: { 'service.name': service },
    metrics: [
      {
        name: 'http.server.request.duration', unit: 'ms', type: 'histogram', temporality: 'delta', boundaries: [...DURATION_BOUNDARIES_MS],
        points: [{ ...point, sum: ms.reduce((s, d) => s + d, 0), min: Math.min(...ms), max: Math.max(...ms), bucketCounts: counts }],
      },
      { name: 'http.server.response.body.size', unit: 'By', type: 'histogram', temporality: 'delta', boundaries: [], points: [{ ...point, sum: outBytes, bucketCounts: [ms.length] }] },
    ],
  };
}
