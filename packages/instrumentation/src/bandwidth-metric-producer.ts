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
  type MetricData,
  type MetricProducer,
  type ScopeMetrics,
} from '@opentelemetry/sdk-metrics';
import {
  DURATION_BOUNDARIES_SECONDS,
  INSTRUMENTATION_SCOPE_NAME,
  METRIC_CLIENT_DURATION,
  METRIC_CLIENT_REQUEST_BODY_SIZE,
  METRIC_CLIENT_REQUEST_WIRE_SIZE,
  METRIC_CLIENT_RESPONSE_BODY_SIZE,
  METRIC_CLIENT_RESPONSE_WIRE_SIZE,
  METRIC_SERVER_DURATION,
  METRIC_SERVER_REQUEST_BODY_SIZE,
  METRIC_SERVER_REQUEST_WIRE_SIZE,
  METRIC_SERVER_RESPONSE_BODY_SIZE,
  METRIC_SERVER_RESPONSE_WIRE_SIZE,
  type Attributes,
} from '@otel-bandwidth/core';
import { SERIES_FIELD as F, type DrainedSeries, type SeriesTable } from './series-table';
import { TablesDrain, type TablesSnapshot } from './series-snapshot';

export const INSTRUMENTATION_SCOPE = { name: INSTRUMENTATION_SCOPE_NAME, version: '0.1.0' };

interface MetricNames {
  duration: string;
  requestBody: string;
  responseBody: string;
  requestWire: string;
  responseWire: string;
  side: 'server' | 'client';
}

const SERVER: MetricNames = {
  duration: METRIC_SERVER_DURATION,
  requestBody: METRIC_SERVER_REQUEST_BODY_SIZE,
  responseBody: METRIC_SERVER_RESPONSE_BODY_SIZE,
  requestWire: METRIC_SERVER_REQUEST_WIRE_SIZE,
  responseWire: METRIC_SERVER_RESPONSE_WIRE_SIZE,
  side: 'server',
};
const CLIENT: MetricNames = {
  duration: METRIC_CLIENT_DURATION,
  requestBody: METRIC_CLIENT_REQUEST_BODY_SIZE,
  responseBody: METRIC_CLIENT_RESPONSE_BODY_SIZE,
  requestWire: METRIC_CLIENT_REQUEST_WIRE_SIZE,
  responseWire: METRIC_CLIENT_RESPONSE_WIRE_SIZE,
  side: 'client',
};

function histogramMetric(name: string, unit: string, description: string, points: DataPoint<Histogram>[]): HistogramMetricData {
  return {
    descriptor: { name, unit, description, valueType: ValueType.DOUBLE },
    aggregationTemporality: AggregationTemporality.DELTA,
    dataPointType: DataPointType.HISTOGRAM,
    dataPoints: points,
  };
}

/**
 * The size histograms carry no buckets: one boundary list shared by all their points, so that an
 * exporter grouping points by boundaries (as the Redis exporter does) finds them alike by
 * identity rather than by comparing a fresh empty array per point. Never written to.
 */
const NO_BOUNDARIES: number[] = [];

function sizeHistogram(count: number, buckets: Histogram['buckets'], sum: number, min?: number, max?: number): Histogram {
  return { count, sum, min, max, buckets };
}

/**
 * Runs at every collection over every series (in the export worker, or in the app's thread when
 * the preload exports from there): the points read the drained numbers in place, one object per
 * point and its value, no closures, spreads or copies per series.
 */
function metricsOf(series: DrainedSeries, names: MetricNames, startTime: HrTime, endTime: HrTime): MetricData[] {
  const n = series.length;
  if (n === 0) return [];
  const durations: DataPoint<Histogram>[] = new Array<DataPoint<Histogram>>(n);
  const requestBodies: DataPoint<Histogram>[] = new Array<DataPoint<Histogram>>(n);
  const responseBodies: DataPoint<Histogram>[] = new Array<DataPoint<Histogram>>(n);
  const requestWire: DataPoint<Histogram>[] = new Array<DataPoint<Histogram>>(n);
  const responseWire: DataPoint<Histogram>[] = new Array<DataPoint<Histogram>>(n);
  for (let i = 0; i < n; i++) {
    const attributes = series.attributes[i] as Attributes;
    const count = series.read(i, F.count);
    durations[i] = {
      startTime,
      endTime,
      attributes,
      value: {
        count,
        sum: series.read(i, F.durationSumMs) / 1000,
        min: series.read(i, F.durationMinMs) / 1000,
        max: series.read(i, F.durationMaxMs) / 1000,
        buckets: { boundaries: DURATION_BOUNDARIES_SECONDS as number[], counts: series.durationBuckets(i) },
      },
    };
    // the four size histograms of a series have the same single bucket: one object for the four,
    // as they share the attributes (read-only data, as all collected data is)
    const buckets = { boundaries: NO_BOUNDARIES, counts: [count] };
    requestBodies[i] = { startTime, endTime, attributes, value: sizeHistogram(count, buckets, series.read(i, F.requestBytes), series.read(i, F.requestBytesMin), series.read(i, F.requestBytesMax)) };
    responseBodies[i] = { startTime, endTime, attributes, value: sizeHistogram(count, buckets, series.read(i, F.responseBytes), series.read(i, F.responseBytesMin), series.read(i, F.responseBytesMax)) };
    requestWire[i] = { startTime, endTime, attributes, value: sizeHistogram(count, buckets, series.read(i, F.requestWireBytes)) };
    responseWire[i] = { startTime, endTime, attributes, value: sizeHistogram(count, buckets, series.read(i, F.responseWireBytes)) };
  }
  const what = names.side === 'server' ? 'HTTP server' : 'outbound HTTP client';
  return [
    histogramMetric(names.duration, 's', `Duration of ${what} requests.`, durations),
    histogramMetric(names.requestBody, 'By', `Size of ${what} request bodies, as ${names.side === 'server' ? 'read' : 'written'}.`, requestBodies),
    histogramMetric(names.responseBody, 'By', `Size of ${what} response bodies, as ${names.side === 'server' ? 'written' : 'read'}.`, responseBodies),
    histogramMetric(names.requestWire, 'By', `Bytes of ${what} requests on the wire, headers and framing included.`, requestWire),
    histogramMetric(names.responseWire, 'By', `Bytes of ${what} responses on the wire, headers and framing included.`, responseWire),
  ];
}

/** A collection's drained tables as OpenTelemetry scope metrics (none when nothing was recorded). */
export function scopeMetricsOf(snapshot: TablesSnapshot): ScopeMetrics[] {
  const startTime: HrTime = millisToHrTime(snapshot.startMs);
  const endTime: HrTime = millisToHrTime(snapshot.endMs);
  const metrics = [...metricsOf(snapshot.server, SERVER, startTime, endTime), ...metricsOf(snapshot.client, CLIENT, startTime, endTime)];
  return metrics.length === 0 ? [] : [{ scope: INSTRUMENTATION_SCOPE, metrics }];
}

/** A metric producer over snapshots taken elsewhere (another thread's tables). */
export class SnapshotMetricProducer implements MetricProducer {
  constructor(private readonly take: () => Promise<TablesSnapshot>) {}

  async collect(): Promise<CollectionResult> {
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: scopeMetricsOf(await this.take()) }, errors: [] };
  }
}

/**
 * Hands the instrumentation's per-series records to OpenTelemetry at collection time, as
 * standard histogram data with delta temporality: http.server.request.duration (s), the
 * request and response body sizes (By) and the bytes on the wire beside them, and the same for
 * outbound calls (http.client.*). Register it as a metric producer of the reader whose exporter
 * should receive them. Each collection drains the records: use it with one reader.
 */
export class BandwidthMetricProducer implements MetricProducer {
  private readonly tables: TablesDrain;

  constructor(serverTable: SeriesTable, clientTable?: SeriesTable) {
    this.tables = new TablesDrain(serverTable, clientTable);
  }

  async collect(): Promise<CollectionResult> {
    return { resourceMetrics: { resource: emptyResource(), scopeMetrics: scopeMetricsOf(this.tables.drain()) }, errors: [] };
  }
}
