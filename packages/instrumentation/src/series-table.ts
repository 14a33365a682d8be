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
 * Where a record's numbers sit among its record's slice of a block (and, in the same order, in a
 * packed snapshot: packed-snapshot.ts): twelve scalars, then the duration buckets. The scalars'
 * places, by name, are also what DrainedSeries.read takes.
 */
export const SERIES_FIELD = {
  count: 0,
  durationSumMs: 1,
  durationMinMs: 2,
  durationMaxMs: 3,
  requestBytes: 4,
  requestBytesMin: 5,
  requestBytesMax: 6,
  responseBytes: 7,
  responseBytesMin: 8,
  responseBytesMax: 9,
  requestWireBytes: 10,
  responseWireBytes: 11,
} as const;
/** The same places as constants of this module, for the request path's record(). */
const {
  count: RECORD_COUNT,
  durationSumMs: RECORD_DURATION_SUM_MS,
  durationMinMs: RECORD_DURATION_MIN_MS,
  durationMaxMs: RECORD_DURATION_MAX_MS,
  requestBytes: RECORD_REQUEST_BYTES,
  requestBytesMin: RECORD_REQUEST_BYTES_MIN,
  requestBytesMax: RECORD_REQUEST_BYTES_MAX,
  responseBytes: RECORD_RESPONSE_BYTES,
  responseBytesMin: RECORD_RESPONSE_BYTES_MIN,
  responseBytesMax: RECORD_RESPONSE_BYTES_MAX,
  requestWireBytes: RECORD_REQUEST_WIRE_BYTES,
  responseWireBytes: RECORD_RESPONSE_WIRE_BYTES,
} = SERIES_FIELD;
const RECORD_BUCKETS_AT = 12;
/** Numbers per record: the scalars and the duration buckets. */
export const RECORD_NUMBERS = RECORD_BUCKETS_AT + BUCKETS;

export type SeriesField = (typeof SERIES_FIELD)[keyof typeof SERIES_FIELD];

/**
 * Series drained from a table, read in place: the i-th series' numbers at i * RECORD_NUMBERS of
 * `numbers`, laid out as a record keeps them (a pack: packed-snapshot.ts). The collection turns
 * them into OpenTelemetry's data points through these readers, with no object per series in
 * between: at 1,990 series an object each, with a copy of its buckets made through a subarray, was
 * 1.7 MB of each export's allocation in the export worker (sampling heap profile).
 */
export class DrainedSeries {
  constructor(
    readonly attributes: readonly Attributes[],
    readonly numbers: Float64Array,
  ) {}

  get length(): number {
    return this.attributes.length;
  }

  /** One of the i-th series' scalars (SERIES_FIELD). */
  read(i: number, field: SeriesField): number {
    return this.numbers[i * RECORD_NUMBERS + field] as number;
  }

  /** The i-th series' duration bucket counts (the last bucket is +Inf), as a new array. */
  durationBuckets(i: number): number[] {
    const from = i * RECORD_NUMBERS + RECORD_BUCKETS_AT;
    const out = new Array<number>(BUCKETS);
    for (let b = 0; b < BUCKETS; b++) out[b] = this.numbers[from + b] as number;
    return out;
  }
}

/** Records per block of a table: one Float64Array of 64 records' numbers (about 14 KB). */
const RECORDS_PER_BLOCK = 64;

/** Puts the numbers of an empty record in `values` (a record's view of its slice). */
function resetNumbers(values: Float64Array): void {
  values.fill(0);
  values[RECORD_DURATION_MIN_MS] = Number.POSITIVE_INFINITY;
  values[RECORD_REQUEST_BYTES_MIN] = Number.POSITIVE_INFINITY;
  values[RECORD_RESPONSE_BYTES_MIN] = Number.POSITIVE_INFINITY;
}

/**
 * One series' numbers since the last collection. Created once per series and reset at each
 * collection, so the request path only adds to numbers it already has.
 *
 * The numbers are a slice of a Float64Array that the table's records share a block of, not
 * fields: fields holding fractions are each a boxed number of their own in V8, and the buckets an
 * array of their own, so that a request recorded into one of many series (1,990 in turn, the
 * overhead benchmark's routes handler) missed the cache at each of five or six places in memory
 * (a CPU profile of that load put most of the request path's samples on the record's first
 * reads). A slice is some 216 contiguous bytes. The record reads it through a view of its own
 * (a subarray), so that every index in record() is a constant: with the block and an offset,
 * each of its twenty-odd reads and writes added the offset with an overflow check first
 * (callgrind per function, `bench:instructions --cache-sim`: record about 80 instructions and 130
 * estimated cycles a request cheaper).
 */
export class SeriesRecord {
  /** collections in a row that found this record empty */
  idleCollections = 0;

  constructor(
    readonly attributes: Attributes,
    /** this record's numbers: a view of its slice of a block */
    readonly values: Float64Array = new Float64Array(RECORD_NUMBERS),
  ) {
    resetNumbers(values);
  }

  record(durationMs: number, requestBytes: number, responseBytes: number, requestWireBytes: number, responseWireBytes: number): void {
    const v = this.values;
    v[RECORD_COUNT] = (v[RECORD_COUNT] as number) + 1;
    v[RECORD_DURATION_SUM_MS] = (v[RECORD_DURATION_SUM_MS] as number) + durationMs;
    if (durationMs < (v[RECORD_DURATION_MIN_MS] as number)) v[RECORD_DURATION_MIN_MS] = durationMs;
    if (durationMs > (v[RECORD_DURATION_MAX_MS] as number)) v[RECORD_DURATION_MAX_MS] = durationMs;
    v[RECORD_REQUEST_BYTES] = (v[RECORD_REQUEST_BYTES] as number) + requestBytes;
    if (requestBytes < (v[RECORD_REQUEST_BYTES_MIN] as number)) v[RECORD_REQUEST_BYTES_MIN] = requestBytes;
    if (requestBytes > (v[RECORD_REQUEST_BYTES_MAX] as number)) v[RECORD_REQUEST_BYTES_MAX] = requestBytes;
    v[RECORD_RESPONSE_BYTES] = (v[RECORD_RESPONSE_BYTES] as number) + responseBytes;
    if (responseBytes < (v[RECORD_RESPONSE_BYTES_MIN] as number)) v[RECORD_RESPONSE_BYTES_MIN] = responseBytes;
    if (responseBytes > (v[RECORD_RESPONSE_BYTES_MAX] as number)) v[RECORD_RESPONSE_BYTES_MAX] = responseBytes;
    v[RECORD_REQUEST_WIRE_BYTES] = (v[RECORD_REQUEST_WIRE_BYTES] as number) + requestWireBytes;
    v[RECORD_RESPONSE_WIRE_BYTES] = (v[RECORD_RESPONSE_WIRE_BYTES] as number) + responseWireBytes;
    const bucket = RECORD_BUCKETS_AT + durationBucket(durationMs);
    v[bucket] = (v[bucket] as number) + 1;
  }

  reset(): void {
    resetNumbers(this.values);
  }

  get count(): number {
    return this.values[RECORD_COUNT] as number;
  }

  /** The record's numbers as they stand, read as drained series are (index 0). */
  readings(): DrainedSeries {
    return new DrainedSeries([this.attributes], this.values);
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
  /** where new records' numbers go: the last block's next slice, else a freed one */
  private block: Float64Array | undefined = undefined;
  private blockUsed = RECORDS_PER_BLOCK;
  private readonly freed: Float64Array[] = [];
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
  ) {
    // Changed once already, here: V8 takes a field that has held one value since its object was
    // built for a constant, and the request path's optimized code (record, which reads the epoch)
    // came to depend on that; the first drain's new epoch then threw that code away, and the
    // process ran its requests unoptimized and recompiled them just after its first export
    // (`node --trace-deopt`: "marking dependent code ... record ... reason: code dependencies").
    this.epoch = ++lastEpoch;
  }

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
    const rec = this.newRecord(attributes);
    series.byCode.set(code, rec);
    this.records++;
    return rec;
  }

  /** A record whose numbers are a slice of a block: a freed one, else the next of the last block. */
  private newRecord(attributes: Attributes): SeriesRecord {
    const slot = this.freed.pop();
    if (slot !== undefined) return new SeriesRecord(attributes, slot);
    if (this.block === undefined || this.blockUsed === RECORDS_PER_BLOCK) {
      this.block = new Float64Array(RECORDS_PER_BLOCK * RECORD_NUMBERS);
      this.blockUsed = 0;
    }
    const at = this.blockUsed++ * RECORD_NUMBERS;
    return new SeriesRecord(attributes, this.block.subarray(at, at + RECORD_NUMBERS));
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
            this.freed.push(rec.values);
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
