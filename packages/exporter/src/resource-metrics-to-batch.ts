import type { HrTime } from '@opentelemetry/api';
import { hrTimeToMilliseconds } from '@opentelemetry/core';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { Attributes, AttributeValue, HistogramMetric, Metric, MetricBatch, SumMetric, SumPoint } from '@otel-bandwidth/core';

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
 * Converts one collection into the wire format's batch (without a batch id yet). Empty delta
 * points are left out; exponential histograms are not carried (the reader selects explicit
 * buckets). Returns undefined when there is nothing to ship.
 */
export function resourceMetricsToBatch(rm: ResourceMetrics): Omit<MetricBatch, 'batchId'> | undefined {
  const metrics: Metric[] = [];
  let start = Number.POSITIVE_INFINITY;
  let end = 0;
  const seeTimes = (s: number, e: number): void => {
    if (s < start) start = s;
    if (e > end) end = e;
  };
  for (const scope of rm.scopeMetrics) {
    for (const md of scope.metrics) {
      const { name, unit, description } = md.descriptor;
      const temporality = md.aggregationTemporality === AggregationTemporality.DELTA ? 'delta' : 'cumulative';
      if (md.dataPointType === DataPointType.HISTOGRAM) {
        const byBounds = new Map<string, HistogramMetric>();
        for (const dp of md.dataPoints) {
          if (temporality === 'delta' && dp.value.count === 0) continue;
          const boundaries = dp.value.buckets.boundaries;
          const key = boundaries.join(',');
          let metric = byBounds.get(key);
          if (!metric) {
            metric = { name, unit, type: 'histogram', temporality, boundaries: [...boundaries], points: [], scope: scope.scope.name };
            if (description) metric.description = description;
            byBounds.set(key, metric);
            metrics.push(metric);
          }
          const s = ms(dp.startTime);
          const e = ms(dp.endTime);
          seeTimes(s, e);
          metric.points.push({
            attributes: toWireAttributes(dp.attributes),
            startTimeMs: s,
            endTimeMs: e,
            count: dp.value.count,
            sum: dp.value.sum ?? 0,
            ...(dp.value.min !== undefined && Number.isFinite(dp.value.min) ? { min: dp.value.min } : {}),
            ...(dp.value.max !== undefined && Number.isFinite(dp.value.max) ? { max: dp.value.max } : {}),
            bucketCounts: [...dp.value.buckets.counts],
          });
        }
      } else if (md.dataPointType === DataPointType.SUM || md.dataPointType === DataPointType.GAUGE) {
        const points: SumPoint[] = [];
        for (const dp of md.dataPoints) {
          if (md.dataPointType === DataPointType.SUM && temporality === 'delta' && dp.value === 0) continue;
          const s = ms(dp.startTime);
          const e = ms(dp.endTime);
          seeTimes(s, e);
          points.push({ attributes: toWireAttributes(dp.attributes), startTimeMs: s, endTimeMs: e, value: dp.value });
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
