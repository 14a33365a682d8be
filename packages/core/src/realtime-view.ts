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

/**
 * Visits the fields of one minute's hash that this version knows, with their value as a number:
 * the series of each distinct code is parsed once for the hash, not once per stat, and stats not
 * in `only` are skipped before any parsing. Readers of the view (the query API, the alert
 * monitor) add up what they need.
 */
export function visitRealtimeHash(
  hash: Readonly<Record<string, string>>,
  visit: (stat: RealtimeStat, series: SeriesIdentityKey, seriesCode: string, value: number) => void,
  only?: ReadonlySet<RealtimeStat>,
): void {
  const parsed = new Map<string, SeriesIdentityKey | undefined>();
  for (const [field, value] of Object.entries(hash)) {
    const bar = field.indexOf('|');
    if (bar < 0) continue;
    const stat = STAT_BY_CODE.get(field.slice(0, bar));
    if (stat === undefined || (only !== undefined && !only.has(stat))) continue;
    const code = field.slice(bar + 1);
    let series = parsed.get(code);
    if (series === undefined && !parsed.has(code)) {
      series = parseRealtimeField(field)?.series;
      parsed.set(code, series);
    }
    if (series !== undefined) visit(stat, series, code, Number(value));
  }
}

export function minuteStart(ms: number): number {
  return Math.floor(ms / MINUTE_MS) * MINUTE_MS;
}

export function hourStart(ms: number): number {
  return Math.floor(ms / HOUR_MS) * HOUR_MS;
}
