/**
 * Pure logic: merges decoded batches into per-series totals by hour and by minute of the data's
 * own time (UTC). A point covering [start, end] belongs to the hour (and minute) of its midpoint.
 */
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_METHOD,
  ATTR_HTTP_ROUTE,
  ATTR_HTTP_STATUS,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_SERVICE_NAME,
  ATTR_URL_SCHEME,
  ATTR_URL_TEMPLATE,
  METRIC_CLIENT_DURATION,
  METRIC_CLIENT_REQUEST_BODY_SIZE,
  METRIC_CLIENT_REQUEST_WIRE_SIZE,
  METRIC_CLIENT_RESPONSE_BODY_SIZE,
  METRIC_CLIENT_RESPONSE_WIRE_SIZE,
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

export type Direction = 'server' | 'client';

export interface SeriesKey {
  service: string;
  endpoint: string;
  method: string;
  protocol: 'http' | 'webrtc';
  /** requests the service served, or calls it made */
  direction: Direction;
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

/**
 * `s` cut to `max` UTF-16 units (the columns' lengths, which hold at least as many characters),
 * never between the two halves of a surrogate pair: a lone half is not text (MySQL stores it as
 * "?", and a browser's encodeURIComponent refuses it).
 */
export function cutText(s: string, max: number): string {
  if (s.length <= max) return s;
  const last = s.charCodeAt(max - 1);
  return s.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

function text(v: unknown, fallback: string, max: number): string {
  const s = typeof v === 'string' && v !== '' ? v : v === undefined || v === null || v === '' ? fallback : String(v);
  return cutText(s, max);
}

/** A called endpoint: scheme://host[:port]/template, the port only when not the scheme's default. */
function calledEndpoint(a: Attributes): string {
  const scheme = text(a[ATTR_URL_SCHEME], 'http', 16);
  const host = text(a[ATTR_SERVER_ADDRESS], 'unknown', MAX_ENDPOINT);
  const port = Number(a[ATTR_SERVER_PORT]);
  const defaultPort = scheme === 'https' ? 443 : 80;
  const template = text(a[ATTR_URL_TEMPLATE], '', MAX_ENDPOINT);
  return `${scheme}://${host}${Number.isFinite(port) && port > 0 && port !== defaultPort ? `:${port}` : ''}${template}`;
}

function seriesKeyOf(service: string, a: Attributes, direction: Direction): SeriesKey {
  const endpoint = direction === 'server' ? text(a[ATTR_HTTP_ROUTE], ROUTE_UNMATCHED, MAX_ENDPOINT) : calledEndpoint(a);
  return {
    service,
    endpoint: cutText(endpoint, MAX_ENDPOINT),
    method: text(a[ATTR_HTTP_METHOD], '_OTHER', MAX_METHOD),
    protocol: 'http',
    direction,
  };
}

type Field = 'inboundBytes' | 'outboundBytes' | 'inboundWireBytes' | 'outboundWireBytes';

/** What each size metric adds to: inbound is what the service received, outbound what it sent. */
const SIZE_METRICS = new Map<string, { direction: Direction; field: Field }>([
  [METRIC_SERVER_REQUEST_BODY_SIZE, { direction: 'server', field: 'inboundBytes' }],
  [METRIC_SERVER_RESPONSE_BODY_SIZE, { direction: 'server', field: 'outboundBytes' }],
  [METRIC_SERVER_REQUEST_WIRE_SIZE, { direction: 'server', field: 'inboundWireBytes' }],
  [METRIC_SERVER_RESPONSE_WIRE_SIZE, { direction: 'server', field: 'outboundWireBytes' }],
  [METRIC_CLIENT_REQUEST_BODY_SIZE, { direction: 'client', field: 'outboundBytes' }],
  [METRIC_CLIENT_RESPONSE_BODY_SIZE, { direction: 'client', field: 'inboundBytes' }],
  [METRIC_CLIENT_REQUEST_WIRE_SIZE, { direction: 'client', field: 'outboundWireBytes' }],
  [METRIC_CLIENT_RESPONSE_WIRE_SIZE, { direction: 'client', field: 'inboundWireBytes' }],
]);
const DURATION_METRICS = new Map<string, Direction>([
  [METRIC_SERVER_DURATION, 'server'],
  [METRIC_CLIENT_DURATION, 'client'],
]);

/** An error: status 400 or more (as the original plan counts them), or any error.type (aborted, ...). */
function isError(a: Attributes): boolean {
  return a[ATTR_ERROR_TYPE] !== undefined || Number(a[ATTR_HTTP_STATUS]) >= 400;
}

/** The longest duration the min/max response time columns (DECIMAL(14,3), milliseconds) hold. */
const MAX_STORED_DURATION_MS = 99_999_999_999.999;

/** A non-negative amount a BIGINT UNSIGNED (or DOUBLE) column takes without loss. */
const storable = (n: number): boolean => n >= 0 && n <= Number.MAX_SAFE_INTEGER;

const unitToMs = (unit: string): number => (unit === 'ms' ? 1 : unit === 'us' ? 0.001 : 1000);

export interface UserHour {
  service: string;
  hourStartMs: number;
  userId: string;
  requests: number;
  inboundBytes: number;
  outboundBytes: number;
}

const MAX_USER_ID = 191;

interface SeriesSlot {
  key: SeriesKey;
  /** the maps' key of this series without the bucket start */
  prefix: string;
  hour: number;
  hourly: SeriesTotals | undefined;
  minute: number;
  minutely: SeriesTotals | undefined;
}

/** Totals by (series, hour) and by (series, minute), and per-user usage by hour, for the batches added. */
export class BatchRollup {
  readonly hourly = new Map<string, BucketedTotals>();
  readonly users = new Map<string, UserHour>();
  readonly minutely = new Map<string, BucketedTotals>();
  batches = 0;
  points = 0;
  /** points of metrics this rollup does not store (other names, cumulative data, another scope's duplicates) */
  ignoredPoints = 0;
  /** points of stored metrics whose values the columns cannot hold (negative, past 2^53, durations past DECIMAL(14,3) ms) */
  refusedPoints = 0;

  /**
   * Per add(): the series of each attribute set (decoded batches share one attributes object
   * between the metrics of a series) and the hour and minute totals it last added to, so the
   * series key is built once per series and batch, not once per point and map.
   */
  private slots: Array<Map<Attributes, SeriesSlot>> = [new Map(), new Map()];

  private totalsFor(map: Map<string, BucketedTotals>, slot: SeriesSlot, startMs: number): SeriesTotals {
    const k = `${slot.prefix}${startMs}`;
    let b = map.get(k);
    if (!b) {
      b = { key: slot.key, startMs, totals: emptyTotals() };
      map.set(k, b);
    }
    return b.totals;
  }

  private slotFor(service: string, direction: Direction, attributes: Attributes): SeriesSlot {
    const slots = this.slots[direction === 'server' ? 0 : 1] as Map<Attributes, SeriesSlot>;
    let slot = slots.get(attributes);
    if (!slot) {
      const key = seriesKeyOf(service, attributes, direction);
      slot = { key, prefix: `${direction}${realtimeSeriesCode(key)}@`, hour: Number.NaN, hourly: undefined, minute: Number.NaN, minutely: undefined };
      slots.set(attributes, slot);
    }
    return slot;
  }

  private forPoint(service: string, direction: Direction, p: HistogramPoint, fn: (t: SeriesTotals) => void): void {
    const mid = p.startTimeMs + (p.endTimeMs - p.startTimeMs) / 2;
    const slot = this.slotFor(service, direction, p.attributes);
    const hour = hourStart(mid);
    if (slot.hourly === undefined || slot.hour !== hour) {
      slot.hour = hour;
      slot.hourly = this.totalsFor(this.hourly, slot, hour);
    }
    const minute = minuteStart(mid);
    if (slot.minutely === undefined || slot.minute !== minute) {
      slot.minute = minute;
      slot.minutely = this.totalsFor(this.minutely, slot, minute);
    }
    fn(slot.hourly);
    fn(slot.minutely);
  }

  add(batch: MetricBatch): void {
    try {
      this.addBatch(batch);
    } finally {
      for (const slots of this.slots) slots.clear();
    }
  }

  private addBatch(batch: MetricBatch): void {
    this.batches++;
    const service = text(batch.resource[ATTR_SERVICE_NAME], 'unknown_service', MAX_SERVICE);
    if (batch.users && batch.users.length > 0) this.addUsers(service, batch);
    const ours = batch.metrics.some((m) => m.scope === INSTRUMENTATION_SCOPE_NAME && DURATION_METRICS.has(m.name));
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
      const durationOf = DURATION_METRICS.get(h.name);
      const size = SIZE_METRICS.get(h.name);
      if (durationOf !== undefined) this.addDurations(service, durationOf, h);
      else if (size !== undefined) {
        for (const p of h.points) {
          // a byte count MySQL's unsigned columns cannot hold would fail every flush it is in
          if (!storable(p.sum)) this.refusedPoints++;
          else this.forPoint(service, size.direction, p, (t) => (t[size.field] += p.sum));
        }
      }
      else this.ignoredPoints += h.points.length;
    }
  }

  /** A batch's users belong to the hour of the batch's midpoint. */
  private addUsers(service: string, batch: MetricBatch): void {
    const hour = hourStart(batch.startTimeMs + (batch.endTimeMs - batch.startTimeMs) / 2);
    for (const u of batch.users ?? []) {
      const userId = cutText(u.id, MAX_USER_ID);
      const k = `${service}\u0000${hour}\u0000${userId}`;
      let row = this.users.get(k);
      if (!row) {
        row = { service, hourStartMs: hour, userId, requests: 0, inboundBytes: 0, outboundBytes: 0 };
        this.users.set(k, row);
      }
      row.requests += u.requests;
      row.inboundBytes += u.inboundBytes;
      row.outboundBytes += u.outboundBytes;
    }
  }

  private addDurations(service: string, direction: Direction, h: HistogramMetric): void {
    const toMs = unitToMs(h.unit);
    const map = storageBucketMap(h.boundaries.map((b) => (b * toMs) / 1000));
    for (const p of h.points) {
      // a duration the min/max columns (DECIMAL(14,3) ms, about 3 years) cannot hold would fail
      // every flush it is in
      const longest = (p.max ?? (p.count > 0 ? p.sum / p.count : 0)) * toMs;
      if (!storable(p.sum) || (p.min !== undefined && p.min < 0) || !(longest <= MAX_STORED_DURATION_MS)) {
        this.refusedPoints++;
        continue;
      }
      const error = isError(p.attributes);
      this.forPoint(service, direction, p, (t) => {
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
