import type { HrTime } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { AggregationTemporality, DataPointType, type DataPoint, type Histogram, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  type Attributes,
  type AttributeValue,
  type BatchOf,
  type HistogramPoint,
  type Metric,
  type MetricBatch,
  type MetricOf,
  type PointReader,
  type SumPoint,
} from '@otel-bandwidth/core';

/** OTel attribute values may be arrays or undefined; the wire format keeps primitives. */
export function toWireAttributes(attrs: Readonly<Record<string, unknown>>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? (v as AttributeValue) : JSON.stringify(v);
  }
  return out;
}

/**
 * Wire attributes per OpenTelemetry attribute set, across exports: a producer that keeps a
 * series' attribute object from one collection to the next (the instrumentation's does) has it
 * converted once, not at every export. OpenTelemetry's attribute sets are immutable once
 * recorded; the entries go with their keys.
 */
const wireAttributesCache = new WeakMap<object, Attributes>();

function wireAttributesOf(a: Readonly<Record<string, unknown>>): Attributes {
  let w = wireAttributesCache.get(a);
  if (w === undefined) {
    w = toWireAttributes(a);
    wireAttributesCache.set(a, w);
  }
  return w;
}

/**
 * A time in whole milliseconds. The points of a collection share their start and end times (one
 * HrTime object each), so the last one converted is kept by identity.
 */
let lastHr: HrTime | undefined;
let lastMs = 0;
function msOf(t: HrTime): number {
  if (t !== lastHr) {
    lastMs = Math.round(hrTimeToMilliseconds(t));
    lastHr = t;
  }
  return lastMs;
}

/** An OpenTelemetry data point the wire format carries: a histogram's, a sum's or a gauge's. */
export type OtelPoint = DataPoint<Histogram> | DataPoint<number>;

const histogramOf = (p: OtelPoint): Histogram => p.value as Histogram;
const finite = (x: number | undefined): number | undefined => (x !== undefined && Number.isFinite(x) ? x : undefined);

/** OpenTelemetry's points, read where they are as the wire format's (see encodeBatchOfStepwise). */
export const OTEL_POINTS: PointReader<OtelPoint> = {
  attributes: (p) => wireAttributesOf(p.attributes),
  startTimeMs: (p) => msOf(p.startTime),
  endTimeMs: (p) => msOf(p.endTime),
  count: (p) => histogramOf(p).count,
  sum: (p) => histogramOf(p).sum ?? 0,
  bucketCounts: (p) => histogramOf(p).buckets.counts,
  min: (p) => finite(histogramOf(p).min),
  max: (p) => finite(histogramOf(p).max),
  value: (p) => p.value as number,
};

/**
 * One collection as the wire format's batch (without a batch id yet), its points still
 * OpenTelemetry's, read through OTEL_POINTS: what the exporter encodes when it has nothing else
 * to send with it, with no copy of each point (at 2,000 series, 10,000 points: about 3.2 MB of
 * each export's allocation, bench:exporter). Empty delta points are left out; exponential
 * histograms are not carried (the reader selects explicit buckets); a histogram whose points
 * have different boundaries becomes one metric per boundary list. Returns undefined when there
 * is nothing to ship.
 *
 * Holds on to the collection's points and boundary lists, which OpenTelemetry does not change
 * once collected: to keep data across exports (while Redis is away), convert it (toUnsentBatch).
 */
export function resourceMetricsView(rm: ResourceMetrics): Omit<BatchOf<OtelPoint>, 'batchId'> | undefined {
  const metrics: Array<MetricOf<OtelPoint>> = [];
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  const span = (dp: OtelPoint): void => {
    const s = msOf(dp.startTime);
    const e = msOf(dp.endTime);
    if (s < start) start = s;
    if (e > end) end = e;
  };
  for (const scope of rm.scopeMetrics) {
    for (const md of scope.metrics) {
      const { name, unit, description } = md.descriptor;
      const temporality = md.aggregationTemporality === AggregationTemporality.DELTA ? 'delta' : 'cumulative';
      const described = description ? { description } : {};
      if (md.dataPointType === DataPointType.HISTOGRAM) {
        const byBounds = new Map<string, Extract<MetricOf<OtelPoint>, { type: 'histogram' }> & { points: OtelPoint[] }>();
        let lastBounds: number[] | undefined;
        let lastPoints: OtelPoint[] | undefined;
        for (const dp of md.dataPoints) {
          if (temporality === 'delta' && dp.value.count === 0) continue;
          const boundaries = dp.value.buckets.boundaries;
          let points = boundaries === lastBounds ? lastPoints : undefined;
          if (points === undefined) {
            const key = boundaries.join(',');
            let metric = byBounds.get(key);
            if (metric === undefined) {
              metric = { name, unit, type: 'histogram', temporality, boundaries, points: [], scope: scope.scope.name, ...described };
              byBounds.set(key, metric);
              metrics.push(metric);
            }
            lastBounds = boundaries;
            points = metric.points;
            lastPoints = points;
          }
          span(dp);
          points.push(dp);
        }
      } else if (md.dataPointType === DataPointType.SUM || md.dataPointType === DataPointType.GAUGE) {
        const points: OtelPoint[] = [];
        for (const dp of md.dataPoints) {
          if (md.dataPointType === DataPointType.SUM && temporality === 'delta' && dp.value === 0) continue;
          span(dp);
          points.push(dp);
        }
        if (points.length === 0) continue;
        if (md.dataPointType === DataPointType.SUM) {
          metrics.push({ name, unit, type: 'sum', temporality, monotonic: md.isMonotonic, points, scope: scope.scope.name, ...described });
        } else {
          metrics.push({ name, unit, type: 'gauge', points, scope: scope.scope.name, ...described });
        }
      }
    }
  }
  if (metrics.length === 0) return undefined;
  return { startTimeMs: start, endTimeMs: end, resource: toWireAttributes(rm.resource.attributes), metrics };
}

/** A batch read through `read`, as the wire format's own objects, which the exporter may merge and keep. */
export function toUnsentBatch<P>(view: Omit<BatchOf<P>, 'batchId'>, read: PointReader<P>): Omit<MetricBatch, 'batchId'> {
  const metrics: Metric[] = view.metrics.map((m): Metric => {
    if (m.type === 'histogram') {
      const points = m.points.map((p): HistogramPoint => {
        const point: HistogramPoint = {
          attributes: read.attributes(p),
          startTimeMs: read.startTimeMs(p),
          endTimeMs: read.endTimeMs(p),
          count: read.count(p),
          sum: read.sum(p),
          bucketCounts: read.bucketCounts(p).slice(),
        };
        const min = read.min(p);
        if (min !== undefined) point.min = min;
        const max = read.max(p);
        if (max !== undefined) point.max = max;
        return point;
      });
      return { ...m, boundaries: m.boundaries.slice(), points };
    }
    const points = m.points.map((p): SumPoint => ({ attributes: read.attributes(p), startTimeMs: read.startTimeMs(p), endTimeMs: read.endTimeMs(p), value: read.value(p) }));
    return { ...m, points };
  });
  const batch: Omit<MetricBatch, 'batchId'> = { startTimeMs: view.startTimeMs, endTimeMs: view.endTimeMs, resource: view.resource, metrics };
  if (view.users !== undefined) batch.users = view.users;
  return batch;
}

/**
 * Converts one collection into the wire format's batch (without a batch id yet), to hold and
 * merge: resourceMetricsView's batch with its points copied into the wire format's objects.
 */
export function resourceMetricsToBatch(rm: ResourceMetrics): Omit<MetricBatch, 'batchId'> | undefined {
  const view = resourceMetricsView(rm);
  return view === undefined ? undefined : toUnsentBatch(view, OTEL_POINTS);
}
