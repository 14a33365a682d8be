/**
 * The realtime view's layout in Redis, shared by the aggregator (writer) and the query API
 * (reader). One hash per minute of data time, `{prefix}:rt:<minuteStartMs>`, expiring after
 * REALTIME_TTL_SECONDS; no key is ever found by scanning. A field is `<stat>|<series>` where
 * series is the JSON array [service, method, endpoint, protocol], so endpoints may contain any
 * character. The duration bucket counts are one field per bucket, `b<index>|<series>`, written
 * only where the count is not zero. A reader skips the fields it does not know, so a view written
 * by an older aggregator (without the buckets and the minimum) still reads.
 *
 * Beside each minute's hash, `{prefix}:rts:<minuteStartMs>` holds the same minute summed per
 * service, in the same field layout with the series [service, "*", "*", "*"]
 * (serviceTotalsSeries): a few dozen fields a service where the minute's hash has a few dozen a
 * series, so that a reader that does not need endpoints (the per-minute series of a service or of
 * everything) reads kilobytes, not megabytes, at a full table of series.
 *
 * Beside the minutes, `{prefix}:rtb:<blockStartMs>` holds the ten minutes of a block
 * (REALTIME_BLOCK_MS, aligned to multiples of ten minutes since the epoch) summed, in a minute
 * hash's layout: the same EVAL that adds a flush's totals to a minute's hash adds them to its
 * block's, the counts and sums added, the fastest and slowest request kept, so a block holds
 * exactly what its minutes hold together. A reader of a long window (realtimeWindowPlan) reads
 * the whole blocks inside it and only the minutes at its edges: six times fewer fields for an
 * hour. A reader of a few series' minutes finds their fields in the blocks
 * (realtimeSeriesFieldPattern) and asks each minute for those alone, since a block has every field
 * its minutes have. A block that does not exist was not written by this layout's writer (data written before
 * it): the reader reads its minutes instead. A block that an older aggregator wrote a part of,
 * during an upgrade, lacks that part: a reader of the block misses it, and a reader of a few
 * series' minutes misses those series' fields that only the older aggregator wrote in the
 * block's ten minutes. The block is outside every window of /metrics/realtime an hour and ten
 * minutes after it began, and of /metrics/minutes (up to two hours) two hours and ten minutes after.
 * A block expires as a minute does, REALTIME_TTL_SECONDS after its last write: at least two hours
 * after its first minute began, past the hour and ten minutes after which no window of
 * REALTIME_MAX_WINDOW_MINUTES holds a minute of it.
 */
import { DURATION_BOUNDARIES_SECONDS } from './http-metrics';

export const REALTIME_TTL_SECONDS = 2 * 60 * 60;
export const REALTIME_MAX_WINDOW_MINUTES = 60;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;
/** The minutes of a block hash (`{prefix}:rtb:<blockStartMs>`): ten, aligned to multiples of ten since the epoch. */
export const REALTIME_BLOCK_MINUTES = 10;
export const REALTIME_BLOCK_MS = REALTIME_BLOCK_MINUTES * MINUTE_MS;
// a block is read only while a window holds the whole of it, so until an hour after it began
if (REALTIME_TTL_SECONDS * 1000 < REALTIME_MAX_WINDOW_MINUTES * MINUTE_MS + REALTIME_BLOCK_MS) {
  throw new Error('the realtime view must keep a block for as long as a window can hold a minute of it');
}

export const REALTIME_STATS = {
  requests: 'req',
  inboundBytes: 'in',
  outboundBytes: 'out',
  inboundWireBytes: 'inw',
  outboundWireBytes: 'outw',
  errors: 'err',
  durationSumMs: 'dur',
  maxDurationMs: 'max',
  /** the fastest request, ms: the writer keeps the least, as it keeps the greatest in max */
  minDurationMs: 'min',
} as const;
/** A stat with one field per series and minute. */
export type RealtimeScalarStat = keyof typeof REALTIME_STATS;
/** What a reader visits: the scalar stats, and durationBucket, one field per bucket index. */
export type RealtimeStat = RealtimeScalarStat | 'durationBucket';

/**
 * The code of the duration bucket counts: `b<index>`, the index into the storage buckets
 * (DURATION_BOUNDARIES_SECONDS, then +Inf) as the hourly tables keep them. Other boundaries would
 * need another code: a reader could not tell one layout's index from the other's.
 */
export const REALTIME_DURATION_BUCKET_CODE = 'b';
/** The duration buckets a series has in a minute: one more than the boundaries, the last past the last bound. */
export const REALTIME_DURATION_BUCKETS = DURATION_BOUNDARIES_SECONDS.length + 1;

export interface SeriesIdentityKey {
  service: string;
  method: string;
  endpoint: string;
  protocol: string;
}

/** The series of a service's totals in the per-service hash: its name, the rest "*". */
export function serviceTotalsSeries(service: string): SeriesIdentityKey {
  return { service, method: '*', endpoint: '*', protocol: '*' };
}

export function realtimeSeriesCode(s: SeriesIdentityKey): string {
  return JSON.stringify([s.service, s.method, s.endpoint, s.protocol]);
}

export function realtimeField(stat: RealtimeScalarStat, seriesCode: string): string {
  return `${REALTIME_STATS[stat]}|${seriesCode}`;
}

/** The field of a series' count in duration bucket `index` (0 to REALTIME_DURATION_BUCKETS - 1). */
export function realtimeBucketField(index: number, seriesCode: string): string {
  if (!(Number.isInteger(index) && index >= 0 && index < REALTIME_DURATION_BUCKETS)) {
    throw new RangeError(`a duration bucket index is an integer from 0 to ${REALTIME_DURATION_BUCKETS - 1}, not ${index}`);
  }
  return `${REALTIME_DURATION_BUCKET_CODE}${index}|${seriesCode}`;
}

interface KnownCode {
  stat: RealtimeStat;
  /** the bucket index of a durationBucket field */
  bucket: number | undefined;
}

/** Every code this version knows, the bucket codes b0 ... b19 included: a lookup, no parsing. */
const KNOWN_CODES = new Map<string, KnownCode>([
  ...(Object.entries(REALTIME_STATS) as Array<[RealtimeScalarStat, string]>).map(([stat, code]): [string, KnownCode] => [code, { stat, bucket: undefined }]),
  ...Array.from({ length: REALTIME_DURATION_BUCKETS }, (_, i): [string, KnownCode] => [`${REALTIME_DURATION_BUCKET_CODE}${i}`, { stat: 'durationBucket', bucket: i }]),
]);

export interface ParsedRealtimeField {
  stat: RealtimeStat;
  series: SeriesIdentityKey;
  /** the bucket index of a durationBucket field, else undefined */
  bucket: number | undefined;
}

/** The series of a field's code, the JSON array [service, method, endpoint, protocol]; undefined for anything else. */
function parseSeriesCode(code: string): SeriesIdentityKey | undefined {
  try {
    const parsed: unknown = JSON.parse(code);
    if (!Array.isArray(parsed) || parsed.length !== 4 || !parsed.every((x) => typeof x === 'string')) return undefined;
    const [service, method, endpoint, protocol] = parsed as [string, string, string, string];
    return { service, method, endpoint, protocol };
  } catch {
    return undefined;
  }
}

/** Parses a field; undefined for a field this version does not know (skipped by readers). */
export function parseRealtimeField(field: string): ParsedRealtimeField | undefined {
  const bar = field.indexOf('|');
  if (bar < 0) return undefined;
  const known = KNOWN_CODES.get(field.slice(0, bar));
  if (!known) return undefined;
  const series = parseSeriesCode(field.slice(bar + 1));
  return series === undefined ? undefined : { stat: known.stat, series, bucket: known.bucket };
}

/** A string matched literally by Redis's glob-style patterns (SCAN's MATCH): `\`, `*`, `?`, `[` and `]` escaped. */
function globLiteral(text: string): string {
  return text.replace(/[\\*?[\]]/g, '\\$&');
}

/**
 * A pattern for HSCAN's MATCH that every field of every series with the given service, method and
 * endpoint (those given) matches: the series code is the JSON array [service, method, endpoint,
 * protocol], so each given part is its JSON text in its place and each other part a wildcard.
 * Fields of other series may match as well (a wildcard spans commas; an endpoint's text may hold
 * another's): the pattern narrows what Redis sends, a reader still filters what it gets.
 */
export function realtimeSeriesFieldPattern(filter: Partial<Pick<SeriesIdentityKey, 'service' | 'method' | 'endpoint'>>): string {
  const part = (value: string | undefined): string => (value === undefined ? '*' : globLiteral(JSON.stringify(value)));
  return `*|${globLiteral('[')}${part(filter.service)},${part(filter.method)},${part(filter.endpoint)},*`;
}

/**
 * Something a pipeline (or client) of ioredis is, for queueRealtimeHash: its `call`, which sends
 * a command by name.
 */
export interface RawCommandQueue {
  call(command: string, ...args: string[]): unknown;
}

/**
 * Queues the HGETALL of a realtime hash whose reply stays as Redis sends it, the flat array
 * [field, value, field, value, ...]. ioredis turns the reply of its `hgetall` into an object, one
 * property at a time, which at a full table of series costs about as much as reading the fields;
 * its reply transformers are looked up by the command's name as given, `hgetall`, so a command
 * named `HGETALL` is left as it is. A reply that does come as an object is read all the same
 * (realtimeHashFields).
 */
export function queueRealtimeHash(queue: RawCommandQueue, key: string): void {
  queue.call('HGETALL', key);
}

/** The reply of an HGETALL as the flat array [field, value, ...]: an array as it is, an object's entries, else none. */
export function realtimeHashFields(reply: unknown): readonly unknown[] {
  if (Array.isArray(reply)) return reply;
  if (reply !== null && typeof reply === 'object') return Object.entries(reply).flat();
  return [];
}

/** What a field means to a RealtimeViewReader: worked out the first time the field is met. */
interface FieldMeaning<S extends object> {
  stat: RealtimeStat;
  bucket: number | undefined;
  state: S;
}

export interface RealtimeViewReaderOptions<S extends object> {
  /** the stats to visit; the others are skipped before their series is parsed. Default: all. */
  stats?: ReadonlySet<RealtimeStat>;
  /**
   * What the reader hands to `add` for a series: called once a read, the first time one of the
   * series' fields is visited; undefined to skip the series' fields (a filter).
   */
  series(identity: SeriesIdentityKey, code: string): S | undefined;
}

/**
 * Reads the fields of the realtime view's hashes that this version knows, hash after hash (the
 * minutes of one window), each with its value as a number and, for a durationBucket field, the
 * bucket's index. It lives for one read of several minutes and keeps what each full field string
 * means (its stat, bucket and series, or that it is skipped: a stat not asked for, an unknown
 * code, a malformed series, a series the caller filters out), so that a field met in an earlier
 * minute costs a lookup, and each series' JSON is parsed once for the read. The field strings of
 * one read are bounded by the series of its minutes; a reader is not meant to outlive the read.
 */
export class RealtimeViewReader<S extends object> {
  /** full field string -> its meaning, or null when it is skipped */
  private readonly fields = new Map<string, FieldMeaning<S> | null>();
  /** series code -> the caller's state, or null when the series is malformed or filtered out */
  private readonly seriesStates = new Map<string, S | null>();

  constructor(private readonly options: RealtimeViewReaderOptions<S>) {}

  /**
   * Visits the known fields of one hash, given as the reply of its HGETALL (queueRealtimeHash:
   * the flat array [field, value, ...]; an object is read too), in the reply's order.
   */
  read(reply: unknown, add: (state: S, stat: RealtimeStat, value: number, bucket: number | undefined) => void): void {
    const flat = realtimeHashFields(reply);
    for (let i = 0; i + 1 < flat.length; i += 2) {
      const field = flat[i];
      if (typeof field !== 'string') continue;
      const meaning = this.meaning(field);
      if (meaning !== null) add(meaning.state, meaning.stat, Number(flat[i + 1]), meaning.bucket);
    }
  }

  /** Whether `read` visits `field` (a stat asked for, of a series the caller keeps): what it learns is kept for the read. */
  visits(field: string): boolean {
    return this.meaning(field) !== null;
  }

  private meaning(field: string): FieldMeaning<S> | null {
    let meaning = this.fields.get(field);
    if (meaning === undefined) {
      meaning = this.resolve(field);
      this.fields.set(field, meaning);
    }
    return meaning;
  }

  private resolve(field: string): FieldMeaning<S> | null {
    const bar = field.indexOf('|');
    if (bar < 0) return null;
    const known = KNOWN_CODES.get(field.slice(0, bar));
    if (known === undefined || (this.options.stats !== undefined && !this.options.stats.has(known.stat))) return null;
    const code = field.slice(bar + 1);
    let state = this.seriesStates.get(code);
    if (state === undefined) {
      const identity = parseSeriesCode(code);
      state = (identity === undefined ? undefined : this.options.series(identity, code)) ?? null;
      this.seriesStates.set(code, state);
    }
    return state === null ? null : { stat: known.stat, bucket: known.bucket, state };
  }
}

export function minuteStart(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

export function realtimeBlockStart(ms: number): number {
  return Math.floor(ms / REALTIME_BLOCK_MS) * REALTIME_BLOCK_MS;
}

/** The hashes that hold a window's minutes: the whole blocks inside it, and the minutes outside those. */
export interface RealtimeWindowPlan {
  /** block starts, ascending: the blocks wholly inside the window */
  blocks: number[];
  /** minute starts, ascending: the window's minutes in none of the blocks */
  minutes: number[];
}

/**
 * How to read the minutes `first` to `last` (minute starts, both included): each block of
 * REALTIME_BLOCK_MS wholly inside the window from its block hash, the minutes before the first
 * such block and after the last from their own. At most two blocks' worth of minutes less two
 * are read one by one; a window shorter than a block may have no whole block at all.
 */
export function realtimeWindowPlan(first: number, last: number): RealtimeWindowPlan {
  const blocks: number[] = [];
  const minutes: number[] = [];
  let m = first;
  while (m <= last) {
    if (m % REALTIME_BLOCK_MS === 0 && m + REALTIME_BLOCK_MS - MINUTE_MS <= last) {
      blocks.push(m);
      m += REALTIME_BLOCK_MS;
    } else {
      minutes.push(m);
      m += MINUTE_MS;
    }
  }
  return { blocks, minutes };
}

/** The minute starts of a block. */
export function realtimeBlockMinutes(blockStartMs: number): number[] {
  return Array.from({ length: REALTIME_BLOCK_MINUTES }, (_, i) => blockStartMs + i * MINUTE_MS);
}

export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}

/** The start of the UTC day holding ms. */
export function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** The UTC day holding ms, as metrics_daily's date column writes it: 2026-12-06. */
export function utcDate(ms: number): string {
  return new Date(dayStart(ms)).toISOString().slice(0, 10);
}
