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
 */
import { DURATION_BOUNDARIES_SECONDS } from './http-metrics';

export const REALTIME_TTL_SECONDS = 2 * 60 * 60;
export const REALTIME_MAX_WINDOW_MINUTES = 60;
export const MINUTE_MS = 60_000;
export const HOUR_MS = 3_600_000;

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

/** Parses a field; undefined for a field this version does not know (skipped by readers). */
export function parseRealtimeField(field: string): ParsedRealtimeField | undefined {
  const bar = field.indexOf('|');
  if (bar < 0) return undefined;
  const known = KNOWN_CODES.get(field.slice(0, bar));
  if (!known) return undefined;
  try {
    const parsed: unknown = JSON.parse(field.slice(bar + 1));
    if (!Array.isArray(parsed) || parsed.length !== 4 || !parsed.every((x) => typeof x === 'string')) return undefined;
    const [service, method, endpoint, protocol] = parsed as [string, string, string, string];
    return { stat: known.stat, series: { service, method, endpoint, protocol }, bucket: known.bucket };
  } catch {
    return undefined;
  }
}

/**
 * Visits the fields of one minute's hash that this version knows, with their value as a number
 * (and, for a durationBucket field, the bucket's index): the series of each distinct code is
 * parsed once for the hash, not once per stat, and stats not in `only` are skipped before any
 * parsing. Readers of the view (the query API, the alert monitor) add up what they need.
 */
export function visitRealtimeHash(
  hash: Readonly<Record<string, string>>,
  visit: (stat: RealtimeStat, series: SeriesIdentityKey, seriesCode: string, value: number, bucket: number | undefined) => void,
  only?: ReadonlySet<RealtimeStat>,
): void {
  const parsed = new Map<string, SeriesIdentityKey | undefined>();
  for (const [field, value] of Object.entries(hash)) {
    const bar = field.indexOf('|');
    if (bar < 0) continue;
    const known = KNOWN_CODES.get(field.slice(0, bar));
    if (known === undefined || (only !== undefined && !only.has(known.stat))) continue;
    const code = field.slice(bar + 1);
    let series = parsed.get(code);
    if (series === undefined && !parsed.has(code)) {
      series = parseRealtimeField(field)?.series;
      parsed.set(code, series);
    }
    if (series !== undefined) visit(known.stat, series, code, Number(value), known.bucket);
  }
}

export function minuteStart(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}
