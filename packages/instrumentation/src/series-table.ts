import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_METHOD,
  ATTR_HTTP_ROUTE,
  ATTR_HTTP_STATUS,
  ATTR_PROTOCOL_VERSION,
  ATTR_URL_SCHEME,
  DURATION_BOUNDARIES_SECONDS,
  ROUTE_OVERFLOW,
  type Attributes,
} from '@otel-bandwidth/core';

/** Duration bucket bounds in milliseconds (the hot path measures in ms). */
export const DURATION_BOUNDS_MS: readonly number[] = DURATION_BOUNDARIES_SECONDS.map((s) => s * 1000);
const BUCKETS = DURATION_BOUNDS_MS.length + 1;

/**
 * Index of the bucket holding d: the first bound >= d, else the +Inf bucket. A scan from the
 * smallest bound rather than a binary search: most requests of a service fall in its first
 * buckets, where the scan ends after a comparison or two whose outcome repeats request after
 * request; a binary search takes four branches that go either way (callgrind's branch
 * simulation, `bench:instructions --cache-sim`).
 */
export function durationBucket(ms: number): number {
  const b = DURATION_BOUNDS_MS;
  const n = b.length;
  let i = 0;
  while (i < n && ms > (b[i] as number)) i++;
  return i;
}

/**
 * One series' numbers since the last collection. Created once per series and reset at each
 * collection, so the request path only adds to numbers it already has.
 */
export class SeriesRecord {
  count = 0;
  durationSumMs = 0;
  durationMinMs = Number.POSITIVE_INFINITY;
  durationMaxMs = 0;
  readonly durationBuckets: number[] = new Array<number>(BUCKETS).fill(0);
  requestBytes = 0;
  requestBytesMin = Number.POSITIVE_INFINITY;
  requestBytesMax = 0;
  responseBytes = 0;
  responseBytesMin = Number.POSITIVE_INFINITY;
  responseBytesMax = 0;
  requestWireBytes = 0;
  responseWireBytes = 0;
  /** collections in a row that found this record empty */
  idleCollections = 0;

  constructor(readonly attributes: Attributes) {}

  record(durationMs: number, requestBytes: number, responseBytes: number, requestWireBytes: number, responseWireBytes: number): void {
    this.count++;
    this.durationSumMs += durationMs;
    if (durationMs < this.durationMinMs) this.durationMinMs = durationMs;
    if (durationMs > this.durationMaxMs) this.durationMaxMs = durationMs;
    (this.durationBuckets[durationBucket(durationMs)] as number)++;
    this.requestBytes += requestBytes;
    if (requestBytes < this.requestBytesMin) this.requestBytesMin = requestBytes;
    if (requestBytes > this.requestBytesMax) this.requestBytesMax = requestBytes;
    this.responseBytes += responseBytes;
    if (responseBytes < this.responseBytesMin) this.responseBytesMin = responseBytes;
    if (responseBytes > this.responseBytesMax) this.responseBytesMax = responseBytes;
    this.requestWireBytes += requestWireBytes;
    this.responseWireBytes += responseWireBytes;
  }

  reset(): void {
    this.count = 0;
    this.durationSumMs = 0;
    this.durationMinMs = Number.POSITIVE_INFINITY;
    this.durationMaxMs = 0;
    this.durationBuckets.fill(0);
    this.requestBytes = 0;
    this.requestBytesMin = Number.POSITIVE_INFINITY;
    this.requestBytesMax = 0;
    this.responseBytes = 0;
    this.responseBytesMin = Number.POSITIVE_INFINITY;
    this.responseBytesMax = 0;
    this.requestWireBytes = 0;
    this.responseWireBytes = 0;
  }
}

export interface SeriesIdentity {
  method: string;
  route: string;
  status: number;
  scheme: string;
  protocolVersion: string;
  errorType: string | undefined;
}

export function seriesAttributes(id: SeriesIdentity): Attributes {
  const a: Attributes = {
    [ATTR_HTTP_METHOD]: id.method,
    [ATTR_HTTP_ROUTE]: id.route,
    [ATTR_URL_SCHEME]: id.scheme,
    [ATTR_PROTOCOL_VERSION]: id.protocolVersion,
  };
  if (id.status > 0) a[ATTR_HTTP_STATUS] = id.status;
  if (id.errorType !== undefined) a[ATTR_ERROR_TYPE] = id.errorType;
  return a;
}

/** How many collections a series may stay empty before its record is freed. */
const IDLE_COLLECTIONS_BEFORE_EVICTION = 12;

/** Where a series past the cardinality limit goes: its overflow series' key and attributes. */
export type SeriesFolder = (attributes: Attributes) => { key: string; attributes: Attributes };

/** Server series fold into one per method and status, route "(overflow)". */
export const foldServerSeries: SeriesFolder = (a) => ({
  key: `${String(a[ATTR_HTTP_METHOD])} ${String(a[ATTR_HTTP_STATUS] ?? 0)} ${String(a[ATTR_ERROR_TYPE] ?? '')} (overflow)`,
  attributes: { ...a, [ATTR_HTTP_ROUTE]: ROUTE_OVERFLOW },
});

/**
 * One route's series by the code of the rest of their identity. The last one found is kept apart:
 * most requests to a route are of one kind (method, status, protocol), and then finding its
 * record takes no Map lookup.
 */
class RouteSeries {
  readonly byCode = new Map<number, SeriesRecord>();
  private lastCode = -1;
  private lastRecord: SeriesRecord | undefined = undefined;

  find(code: number): SeriesRecord | undefined {
    if (code === this.lastCode) return this.lastRecord;
    const rec = this.byCode.get(code);
    if (rec !== undefined) {
      this.lastCode = code;
      this.lastRecord = rec;
    }
    return rec;
  }

  delete(code: number): void {
    this.byCode.delete(code);
    if (code === this.lastCode) {
      this.lastCode = -1;
      this.lastRecord = undefined;
    }
  }
}

/** Epochs of every table in the process, so that no two tables or drains share one. */
let lastEpoch = 0;

/**
 * The per-series records of one process, with a cardinality limit: past `limit` series, new
 * ones are folded into overflow series (see SeriesFolder), which are stored and shown like any.
 */
export class SeriesTable {
  /** route (or any series name) -> a small number coding the rest of the identity -> record */
  private readonly routes = new Map<string, RouteSeries>();
  /**
   * The route found last, kept apart like RouteSeries' last code: requests come in runs of one
   * route (a client polling, a page's burst of calls, a busy endpoint), and a route string from
   * the caches is the same string each time, so one comparison replaces a Map lookup.
   */
  private lastRoute = '';
  private lastSeries: RouteSeries | undefined = undefined;
  private records = 0;
  /**
   * Series past the limit -> the overflow record they fold into, until the next drain: so that a
   * request of an overflowed series finds its record by the same lookup as any other, instead of
   * building its attributes and overflow key again (a service over its limit is usually one
   * flooded with new routes, when the request path most needs to stay cheap).
   */
  private readonly folded = new Map<string, Map<number, SeriesRecord>>();
  private foldedCount = 0;
  /** series folded into overflow since the process started (once per collection interval each) */
  overflowedSeries = 0;
  /**
   * Changes at every drain, and differs from every other table's: a record found under an epoch
   * stays the one its series records into until the epoch changes (a drain may free it, or find
   * room for a series it had folded into overflow).
   */
  epoch = ++lastEpoch;

  constructor(
    readonly limit: number,
    private readonly fold: SeriesFolder = foldServerSeries,
  ) {}

  get size(): number {
    return this.records;
  }

  /**
   * The record of a known series: the request path's only lookup. Two levels so that no key
   * string is built per request: the route strings come from caches (their hash is kept), and
   * the rest of the identity is a small integer.
   */
  get(route: string, code: number): SeriesRecord | undefined {
    let series = this.lastSeries;
    if (route !== this.lastRoute || series === undefined) {
      series = this.routes.get(route);
      if (series !== undefined) {
        this.lastRoute = route;
        this.lastSeries = series;
      }
    }
    const rec = series === undefined ? undefined : series.find(code);
    if (rec !== undefined || this.foldedCount === 0) return rec;
    const foldedByCode = this.folded.get(route);
    return foldedByCode === undefined ? undefined : foldedByCode.get(code);
  }

  /** Creates the record of a new series, or returns its overflow series past the limit. */
  add(route: string, code: number, attributes: Attributes): SeriesRecord {
    const known = this.get(route, code);
    if (known !== undefined) return known;
    if (this.records >= this.limit) {
      this.overflowedSeries++;
      const overflow = this.fold(attributes);
      const rec = this.get(`\u0000${overflow.key}`, 0) ?? this.insert(`\u0000${overflow.key}`, 0, overflow.attributes);
      // remembered up to a few times the limit: past that, a flood of one-off routes would make
      // the memory itself the cardinality problem
      if (this.foldedCount < this.limit * 4) {
        let byCode = this.folded.get(route);
        if (byCode === undefined) {
          byCode = new Map();
          this.folded.set(route, byCode);
        }
        byCode.set(code, rec);
        this.foldedCount++;
      }
      return rec;
    }
    return this.insert(route, code, attributes);
  }

  private insert(route: string, code: number, attributes: Attributes): SeriesRecord {
    let series = this.routes.get(route);
    if (series === undefined) {
      series = new RouteSeries();
      this.routes.set(route, series);
    }
    const rec = new SeriesRecord(attributes);
    series.byCode.set(code, rec);
    this.records++;
    return rec;
  }

  /**
   * Visits the records that saw requests since the last call, then resets them. Records idle for
   * a while are dropped so their slots return to the cardinality budget.
   */
  drain(visit: (rec: SeriesRecord) => void): void {
    this.epoch = ++lastEpoch;
    // a series folded last interval may fit under the limit now that idle ones are dropped
    this.folded.clear();
    this.foldedCount = 0;
    for (const [route, series] of this.routes) {
      for (const [code, rec] of series.byCode) {
        if (rec.count === 0) {
          if (++rec.idleCollections >= IDLE_COLLECTIONS_BEFORE_EVICTION) {
            series.delete(code);
            this.records--;
          }
          continue;
        }
        rec.idleCollections = 0;
        visit(rec);
        rec.reset();
      }
      if (series.byCode.size === 0) {
        this.routes.delete(route);
        if (series === this.lastSeries) {
          this.lastRoute = '';
          this.lastSeries = undefined;
        }
      }
    }
  }
}
