import type { HrTime } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Attributes, AttributeValue, HistogramMetric, HistogramPoint, Metric, MetricBatch, SumMetric, SumPoint } from '@otel-bandwidth/core';

/** OTel attribute values may be arrays or undefined; the wire format keeps primitives. */
export function toWireAttributes(attrs: Readonly<Record<string, unknown>>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    out[k] = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? (v as AttributeValue) : JSON.stringify(v);
  }
  return out;
}

const ms = (t: HrTime): number => Math.round(hrTimeToMilliseconds(t));

/**
 * Wire attributes per OpenTelemetry attribute set, across exports: a producer that keeps a
 * series' attribute object from one collection to the next (the instrumentation's does) has it
 * converted once, not at every export. OpenTelemetry's attribute sets are immutable once
 * recorded; the entries go with their keys.
 */
const wireAttributesCache = new WeakMap<object, Attributes>();

/**
 * Converts one collection into the wire format's batch (without a batch id yet). Empty delta
 * points are left out; exponential histograms are not carried (the reader selects explicit
 * buckets). Returns undefined when there is nothing to ship.
 *
 * Runs at every export, over every series (on the app's event loop when exporting from its
 * thread): attribute sets shared by several metrics (the instrumentation's five histograms of a
 * series share one) or kept across collections are converted once, and so are the shared start
 * and end times.
 */
export function resourceMetricsToBatch(rm: ResourceMetrics): Omit<MetricBatch, 'batchId'> | undefined {
  const metrics: Metric[] = [];
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  const attributesOf = (a: Readonly<Record<string, unknown>>): Attributes => {
    let w = wireAttributesCache.get(a);
    if (w === undefined) {
      w = toWireAttributes(a);
      wireAttributesCache.set(a, w);
    }
    return w;
  };
  let lastHr: HrTime | undefined;
  let lastMs = 0;
  const msOf = (t: HrTime): number => {
    if (t !== lastHr) {
      lastHr = t;
      lastMs = ms(t);
    }
    return lastMs;
  };
  for (const scope of rm.scopeMetrics) {
    for (const md of scope.metrics) {
      const { name, unit, description } = md.descriptor;
      const temporality = md.aggregationTemporality === AggregationTemporality.DELTA ? 'delta' : 'cumulative';
      if (md.dataPointType === DataPointType.HISTOGRAM) {
        const byBounds = new Map<string, HistogramMetric>();
        let lastBounds: number[] | undefined;
        let lastMetric: HistogramMetric | undefined;
        for (const dp of md.dataPoints) {
          const v = dp.value;
          if (temporality === 'delta' && v.count === 0) continue;
          const boundaries = v.buckets.boundaries;
          let metric = boundaries === lastBounds ? lastMetric : undefined;
          if (!metric) {
            const key = boundaries.join(',');
            metric = byBounds.get(key);
            if (!metric) {
              metric = { name, unit, type: 'histogram', temporality, boundaries: boundaries.slice(), points: [], scope: scope.scope.name };
              if (description) metric.description = description;
              byBounds.set(key, metric);
              metrics.push(metric);
            }
            lastBounds = boundaries;
            lastMetric = metric;
          }
          const s = msOf(dp.startTime);
          const e = msOf(dp.endTime);
          if (s < start) start = s;
          if (e > end) end = e;
          const point: HistogramPoint = {
            attributes: attributesOf(dp.attributes),
            startTimeMs: s,
            endTimeMs: e,
            count: v.count,
            sum: v.sum ?? 0,
            bucketCounts: v.buckets.counts.slice(),
          };
          if (v.min !== undefined && Number.isFinite(v.min)) point.min = v.min;
          if (v.max !== undefined && Number.isFinite(v.max)) point.max = v.max;
          metric.points.push(point);
        }
      } else if (md.dataPointType === DataPointType.SUM || md.dataPointType === DataPointType.GAUGE) {
        const points: SumPoint[] = [];
        for (const dp of md.dataPoints) {
          if (md.dataPointType === DataPointType.SUM && temporality === 'delta' && dp.value === 0) continue;
          const s = msOf(dp.startTime);
          const e = msOf(dp.endTime);
          if (s < start) start = s;
          if (e > end) end = e;
          points.push({ attributes: attributesOf(dp.attributes), startTimeMs: s, endTimeMs: e, value: dp.value });
        }
        if (points.length === 0) continue;
        if (md.dataPointType === DataPointType.SUM) {
          const metric: SumMetric = { name, unit, type: 'sum', temporality, monotonic: md.isMonotonic, points, scope: scope.scope.name };
          if (description) metric.description = description;
          metrics.push(metric);
        } else {
          metrics.push({ name, unit, type: 'gauge', points, scope: scope.scope.name, ...(description ? { description } : {}) });
        }
      }
    }
  }
  if (metrics.length === 0) return undefined;
  return { startTimeMs: start, endTimeMs: end, resource: toWireAttributes(rm.resource.attributes), metrics };
}
