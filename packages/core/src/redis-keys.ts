/**
 * Redis key names. Every key of one deployment shares the hash tag `{prefix}`, so on Redis
 * Cluster the stream and the keys written beside it live in one slot.
 */
export const DEFAULT_KEY_PREFIX = 'otel-bandwidth';

export interface RedisKeys {
  /** the metrics stream the exporters XADD to */
  stream: string;
  /** entries that could not be applied, with the reason */
  deadLetter: string;
  /** realtime minute bucket (a hash) for the minute starting at minuteStartMs */
  realtimeMinute(minuteStartMs: number): string;
  /** the same minute summed per service (a hash of a few fields a service): what a reader needs without endpoints */
  realtimeServiceMinute(minuteStartMs: number): string;
  /**
   * the ten minutes of the block starting at blockStartMs (a multiple of REALTIME_BLOCK_MS)
   * summed, in a minute hash's layout: what a reader of a long window reads in their place
   */
  realtimeBlock(blockStartMs: number): string;
  /** aggregator status (a hash: lastFlushMs, ...) */
  aggregatorStatus: string;
  /** which aggregator evaluates the alert rules now (a string with an expiry: alert-monitor.ts) */
  alertLease: string;
}

export function redisKeys(prefix: string = DEFAULT_KEY_PREFIX): RedisKeys {
  if (prefix.includes('{') || prefix.includes('}')) {
    throw new Error(`key prefix "${prefix}" must not contain braces: it becomes the hash tag itself`);
  }
  const tag = `{${prefix}}`;
  return {
    stream: `${tag}:metrics`,
    deadLetter: `${tag}:dead-letter`,
    realtimeMinute: (minuteStartMs: number) => `${tag}:rt:${minuteStartMs}`,
    realtimeServiceMinute: (minuteStartMs: number) => `${tag}:rts:${minuteStartMs}`,
    realtimeBlock: (blockStartMs: number) => `${tag}:rtb:${blockStartMs}`,
    aggregatorStatus: `${tag}:aggregator`,
    alertLease: `${tag}:alerts:lease`,
  };
}
