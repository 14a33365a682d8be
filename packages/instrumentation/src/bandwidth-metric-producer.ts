import { ValueType, type HrTime } from '@opentelemetry/api';
import { millisToHrTime } from '@opentelemetry/core';
import { emptyResource } from '@opentelemetry/resources';
import {
  AggregationTemporality,
  DataPointType,
  type CollectionResult,
  type DataPoint,
  type Histogram,
  type HistogramMetricData,
  type MetricProducer,
} from '@opentelemetry/sdk-metrics';
import {
  DURATION_BOUNDARIES_SECONDS,
  INSTRUMENTATION_SCOPE_NAME,
  METRIC_SERVER_DURATION,
  METRIC_SERVER_REQUEST_BODY_SIZE,
  METRIC_SERVER_RESPONSE_BODY_SIZE,
  METRIC_SERVER_REQUEST_WIRE_SIZE,
  METRIC_SERVER_RESPONSE_WIRE_SIZE,
} from '@otel-bandwidth/core';
import type { SeriesTable } from './series-table';

export const INSTRUMENTATION_SCOPE = { name: INSTRUMENTATION_SCOPE_NAME, version: '0.1.0' };

function histogramMetric(name: string, unit: string, description: string, points: DataPoint<Histogram>[]): HistogramMetricData {
  return {
    descriptor: { name, unit, description, valueType: ValueType.DOUBLE },
    aggregationTemporality: AggregationTemporality.DELTA,
    dataPointType: DataPointType.HISTOGRAM,
    dataPoints: points,
  };
}

/**
 * Hands the instrumentation's per-series records to OpenTelemetry at collection time, as
 * standard histogram data with delta temporality: http.server.request.duration (s), the
 * request and response body sizes (By), and the bytes on the wire beside them. Register it as a metric producer of the reader whose
 * exporter should receive them. Each collection drains the records: use it with one reader.
 */
export class BandwidthMetricProducer implements MetricProducer {
  private lastCollectionMs = Date.now();

  constructor(private readonly table: SeriesTable) {}

  async collect(): Promise<CollectionResult> {
    const nowMs = Date.now();
    const startTime: HrTime = millisToHrTime(this.lastCollectionMs);
    const endTime: HrTime = millisToHrTime(nowMs);
    this.lastCollectionMs = nowMs;
    const durations: DataPoint<Histogram>[] = [];
    const requestSizes: DataPoint<Histogram>[] = [];
    const responseSizes: DataPoint<Histogram>[] = [];
    const requestWire: DataPoint<Histogram>[] = [];
    const responseWire: DataPoint<Histogram>[] = [];
    this.table.drain((r) => {
      const attributes = r.attributes;
      durations.push({
        startTime,
        endTime,
        attributes,
        value: {
          count: r.count,
          sum: r.durationSumMs / 1000,
          min: r.durationMinMs / 1000,
          max: r.durationMaxMs / 1000,
          buckets: { boundaries: DURATION_BOUNDARIES_SECONDS as number[], counts: [...r.durationBuckets] },
        },
      });
      requestSizes.push({
        startTime,
        endTime,
        attributes,
        value: { count: r.count, sum: r.requestBytes, min: r.requestBytesMin, max: r.requestBytesMax, buckets: { boundaries: [], counts: [r.count] } },
      });
      responseSizes.push({
        startTime,
        endTime,
        attributes,
        value: { count: r.count, sum: r.responseBytes, min: r.responseBytesMin, max: r.responseBytesMax, buckets: { boundaries: [], counts: [r.count] } },
      });
      requestWire.push({ startTime, endTime, attributes, value: { count: r.count, sum: r.requestWireBytes, buckets: { boundaries: [], counts: [r.count] } } });
      responseWire.push({ startTime, endTime, attributes, value: { count: r.count, sum: r.responseWireBytes, buckets: { boundaries: [], counts: [r.count] } } });
    });
    const metrics =
      durations.length === 0
        ? []
        : [
            histogramMetric(METRIC_SERVER_DURATION, 's', 'Duration of HTTP server requests.', durations),
            histogramMetric(METRIC_SERVER_REQUEST_BODY_SIZE, 'By', 'Size of HTTP server request bodies, as read.', requestSizes),
            histogramMetric(METRIC_SERVER_RESPONSE_BODY_SIZE, 'By', 'Size of HTTP server response bodies, as written.', responseSizes),
            histogramMetric(METRIC_SERVER_REQUEST_WIRE_SIZE, 'By', 'Bytes of HTTP server requests on the wire, headers and framing included.', requestWire),
            histogramMetric(METRIC_SERVER_RESPONSE_WIRE_SIZE, 'By', 'Bytes of HTTP server responses on the wire, headers and framing included.', responseWire),
          ];
    return {
      resourceMetrics: { resource: emptyResource(), scopeMetrics: metrics.length === 0 ? [] : [{ scope: INSTRUMENTATION_SCOPE, metrics }] },
      errors: [],
    };
  }
}
