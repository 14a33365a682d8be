/**
 * Pure logic: merges decoded batches into per-series totals by hour and by minute of the data's
 * own time (UTC). A point covering [start, end] belongs to the hour (and minute) of its midpoint.
 */
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_METHOD,
  ATTR_HTTP_ROUTE,
  ATTR_HTTP_STATUS,
  ATTR_SERVICE_NAME,
  DURATION_BOUNDARIES_SECONDS,
  INSTRUMENTATION_SCOPE_NAME,
  METRIC_SERVER_DURATION,
  METRIC_SERVER_REQUEST_BODY_SIZE,
  METRIC_SERVER_RESPONSE_BODY_SIZE,
  METRIC_SERVER_REQUEST_WIRE_SIZE,
  METRIC_SERVER_RESPONSE_WIRE_SIZE,
  ROUTE_UNMATCHED,
  hourStart,
  minuteStart,
  realtimeSeriesCode,
  type Attributes,
  type HistogramMetric,
  type HistogramPoint,
  type MetricBatch,
} from '@otel-bandwidth/core';

export const STORAGE_BUCKETS = DURATION_BOUNDARIES_SECONDS.length + 1;
const MAX_SERVICE = 128;
const MAX_ENDPOINT = 255;
const MAX_METHOD = 16;

export interface SeriesKey {
  service: string;
  endpoint: string;
  method: string;
  protocol: 'http' | 'webrtc';
}

export interface SeriesTotals {
  requests: number;
  inboundBytes: number;
  outboundBytes: number;
  /** bytes on the wire, headers and framing included */
  inboundWireBytes: number;
  outboundWireBytes: number;
  errors: number;
  successes: number;
  durationSumMs: number;
  /** +Infinity while no request was seen */
  minDurationMs: number;
  maxDurationMs: number;
  /** request counts per storage duration bucket (DURATION_BOUNDARIES_SECONDS, then +Inf) */
  durationBuckets: number[];
}

export interface BucketedTotals {
  key: SeriesKey;
  /** start of the hour or minute, ms since the epoch, UTC */
  startMs: number;
  totals: SeriesTotals;
}

export function emptyTotals(): SeriesTotals {
  return {
    requests: 0,
    inboundBytes: 0,
    outboundBytes: 0,
    inboundWireBytes: 0,
    outboundWireBytes: 0,
    errors: 0,
    successes: 0,
    durationSumMs: 0,
    minDurationMs: Number.POSITIVE_INFINITY,
    maxDurationMs: 0,
    durationBuckets: new Array<number>(STORAGE_BUCKETS).fill(0),
  };
}

/** For a histogram's boundaries (in seconds), the storage bucket each of its buckets folds into. */
const bucketMaps = new Map<string, number[]>();
export function storageBucketMap(boundariesSeconds: readonly number[]): number[] {
  const cacheKey = boundariesSeconds.join(',');
  let map = bucketMaps.get(cacheKey);
  if (map) return map;
  const storage = DURATION_BOUNDARIES_SECONDS;
  map = boundariesSeconds.map((upper) => {
    // the first storage bucket whose upper bound holds this bucket's upper bound
    const i = storage.findIndex((b) => upper <= b + 1e-12);
    return i === -1 ? storage.length : i;
  });
  map.push(storage.length); // +Inf
  if (bucketMaps.size < 64) bucketMaps.set(cacheKey, map);
  return map;
}

function text(v: unknown, fallback: string, max: number): string {
  const s = typeof v === 'string' && v !== '' ? v : v === undefined || v === null || v === '' ? fallback : String(v);
  return s.length > max ? s.slice(0, max) : s;
}

function seriesKeyOf(service: string, a: Attributes): SeriesKey {
  return {
    service,
    endpoint: text(a[ATTR_HTTP_ROUTE], ROUTE_UNMATCHED, MAX_ENDPOINT),
    method: text(a[ATTR_HTTP_METHOD], '_OTHER', MAX_METHOD),
    protocol: 'http',
  };
}

/** An error: status 400 or more (as the original plan counts them), or any error.type (aborted, ...). */
function isError(a: Attributes): boolean {
  return a[ATTR_ERROR_TYPE] !== undefined || Number(a[ATTR_HTTP_STATUS]) >= 400;
}

const unitToMs = (unit: string): number => (unit === 'ms' ? 1 : unit === 'us' ? 0.001 : 1000);

/** Totals by (series, hour) and by (series, minute), for the batches added. */
export class BatchRollup {
  readonly hourly = new Map<string, BucketedTotals>();
  readonly minutely = new Map<string, BucketedTotals>();
  batches = 0;
  points = 0;
  /** points of metrics this rollup does not store (other names, cumulative data) */
  ignoredPoints = 0;

  private totalsFor(map: Map<string, BucketedTotals>, key: SeriesKey, startMs: number): SeriesTotals {
    const k = `${realtimeSeriesCode(key)}@${startMs}`;
    let b = map.get(k);
    if (!b) {
      b = { key, startMs, totals: emptyTotals() };
      map.set(k, b);
    }
    return b.totals;
  }

  private forPoint(service: string, p: HistogramPoint, fn: (t: SeriesTotals) => void): void {
    const mid = p.startTimeMs + (p.endTimeMs - p.startTimeMs) / 2;
    const key = seriesKeyOf(service, p.attributes);
    fn(this.totalsFor(this.hourly, key, hourStart(mid)));
    fn(this.totalsFor(this.minutely, key, minuteStart(mid)));
  }

  add(batch: MetricBatch): void {
    this.batches++;
    const service = text(batch.resource[ATTR_SERVICE_NAME], 'unknown_service', MAX_SERVICE);
    const ours = batch.metrics.some((m) => m.scope === INSTRUMENTATION_SCOPE_NAME && m.name === METRIC_SERVER_DURATION);
    for (const m of batch.metrics) {
      this.points += m.points.length;
      const usable =
        m.type === 'histogram' &&
        m.temporality === 'delta' &&
        // with our instrumentation in the batch, another instrumentation's server metrics would count twice
        (!ours || m.scope === undefined || m.scope === INSTRUMENTATION_SCOPE_NAME);
      if (!usable) {
        this.ignoredPoints += m.points.length;
        continue;
      }
      const h = m as HistogramMetric;
      if (h.name === METRIC_SERVER_DURATION) this.addDurations(service, h);
      else if (h.name === METRIC_SERVER_REQUEST_BODY_SIZE) for (const p of h.points) this.forPoint(service, p, (t) => (t.inboundBytes += p.sum));
      else if (h.name === METRIC_SERVER_RESPONSE_BODY_SIZE) for (const p of h.points) this.forPoint(service, p, (t) => (t.outboundBytes += p.sum));
      else if (h.name === METRIC_SERVER_REQUEST_WIRE_SIZE) for (const p of h.points) this.forPoint(service, p, (t) => (t.inboundWireBytes += p.sum));
      else if (h.name === METRIC_SERVER_RESPONSE_WIRE_SIZE) for (const p of h.points) this.forPoint(service, p, (t) => (t.outboundWireBytes += p.sum));
      else this.ignoredPoints += h.points.length;
    }
  }

  private addDurations(service: string, h: HistogramMetric): void {
    const toMs = unitToMs(h.unit);
    const map = storageBucketMap(h.boundaries.map((b) => (b * toMs) / 1000));
    for (const p of h.points) {
      const error = isError(p.attributes);
      this.forPoint(service, p, (t) => {
        t.requests += p.count;
        if (error) t.errors += p.count;
        else t.successes += p.count;
        t.durationSumMs += p.sum * toMs;
        if (p.count > 0) {
          const min = (p.min ?? p.sum / p.count) * toMs;
          const max = (p.max ?? p.sum / p.count) * toMs;
          if (min < t.minDurationMs) t.minDurationMs = min;
          if (max > t.maxDurationMs) t.maxDurationMs = max;
        }
        for (let i = 0; i < p.bucketCounts.length; i++) {
          const c = p.bucketCounts[i] as number;
          if (c !== 0) (t.durationBuckets[map[i] as number] as number) += c;
        }
      });
    }
  }
}
