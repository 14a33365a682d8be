/**
 * The realtime view's layout in Redis, shared by the aggregator (writer) and the query API
 * (reader). One hash per minute of data time, `{prefix}:rt:<minuteStartMs>`, expiring after
 * REALTIME_TTL_SECONDS; no key is ever found by scanning. A field is `<stat>|<series>` where
 * series is the JSON array [service, method, endpoint, protocol], so endpoints may contain any
 * character.
 */
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
} as const;
export type RealtimeStat = keyof typeof REALTIME_STATS;

export interface SeriesIdentityKey {
  service: string;
  method: string;
  endpoint: string;
  protocol: string;
}

export function realtimeSeriesCode(s: SeriesIdentityKey): string {
  return JSON.stringify([s.service, s.method, s.endpoint, s.protocol]);
}

export function realtimeField(stat: RealtimeStat, seriesCode: string): string {
  return `${REALTIME_STATS[stat]}|${seriesCode}`;
}

const STAT_BY_CODE = new Map<string, RealtimeStat>(
  (Object.entries(REALTIME_STATS) as Array<[RealtimeStat, string]>).map(([k, v]) => [v, k]),
);

/** Parses a field; undefined for a field this version does not know (skipped by readers). */
export function parseRealtimeField(field: string): { stat: RealtimeStat; series: SeriesIdentityKey } | undefined {
  const bar = field.indexOf('|');
  if (bar < 0) return undefined;
  const stat = STAT_BY_CODE.get(field.slice(0, bar));
  if (!stat) return undefined;
  try {
    const parsed: unknown = JSON.parse(field.slice(bar + 1));
    if (!Array.isArray(parsed) || parsed.length !== 4 || !parsed.every((x) => typeof x === 'string')) return undefined;
    const [service, method, endpoint, protocol] = parsed as [string, string, string, string];
    return { stat, series: { service, method, endpoint, protocol } };
  } catch {
    return undefined;
  }
}

export function minuteStart(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}
