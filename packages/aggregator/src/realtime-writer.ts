import { REALTIME_TTL_SECONDS, realtimeBucketField, realtimeField, realtimeSeriesCode, type RedisKeys } from '@otel-bandwidth/core';
import type { Cluster, Redis } from 'ioredis';
import type { BatchRollup } from './batch-rollup';

// ARGV: ttl, then triples (op, field, value): i = HINCRBY, f = HINCRBYFLOAT, x = keep the max,
// n = keep the min
const UPDATE_MINUTE = `
local key = KEYS[1]
for i = 2, #ARGV, 3 do
  local op, field, value = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if op == 'i' then
    redis.call('HINCRBY', key, field, value)
  elseif op == 'f' then
    redis.call('HINCRBYFLOAT', key, field, value)
  else
    local current = redis.call('HGET', key, field)
    local v = tonumber(value)
    if (not current) or (op == 'x' and v > tonumber(current)) or (op == 'n' and v < tonumber(current)) then
      redis.call('HSET', key, field, value)
    end
  end
end
redis.call('EXPIRE', key, ARGV[1])
return 1
`;

/**
 * Adds a flush's per-minute totals to the realtime view (layout: core's realtime-view.ts): one
 * hash per minute of data time, expiring after two hours, written by one EVAL a minute. Each
 * series' non-zero duration bucket counts are added, and its fastest and slowest request kept,
 * so that readers can estimate percentiles. Called only with batches that MySQL applied for the
 * first time.
 */
export async function updateRealtimeView(redis: Redis | Cluster, keys: RedisKeys, rollup: BatchRollup): Promise<void> {
  const byMinute = new Map<number, string[]>();
  for (const b of rollup.minutely.values()) {
    if (b.key.direction !== 'server') continue;
    const t = b.totals;
    const code = realtimeSeriesCode(b.key);
    let args = byMinute.get(b.startMs);
    if (!args) {
      args = [String(REALTIME_TTL_SECONDS)];
      byMinute.set(b.startMs, args);
    }
    if (t.requests) args.push('i', realtimeField('requests', code), String(t.requests));
    if (t.inboundBytes) args.push('i', realtimeField('inboundBytes', code), String(Math.round(t.inboundBytes)));
    if (t.outboundBytes) args.push('i', realtimeField('outboundBytes', code), String(Math.round(t.outboundBytes)));
    if (t.inboundWireBytes) args.push('i', realtimeField('inboundWireBytes', code), String(Math.round(t.inboundWireBytes)));
    if (t.outboundWireBytes) args.push('i', realtimeField('outboundWireBytes', code), String(Math.round(t.outboundWireBytes)));
    if (t.errors) args.push('i', realtimeField('errors', code), String(t.errors));
    if (t.durationSumMs) args.push('f', realtimeField('durationSumMs', code), String(t.durationSumMs));
    if (t.maxDurationMs) args.push('x', realtimeField('maxDurationMs', code), String(t.maxDurationMs));
    // 0 ms is a minimum too: left out, the minute's buckets would be narrowed to another's fastest
    if (Number.isFinite(t.minDurationMs)) args.push('n', realtimeField('minDurationMs', code), String(t.minDurationMs));
    t.durationBuckets.forEach((n, i) => {
      if (n) args.push('i', realtimeBucketField(i, code), String(n));
    });
  }
  const now = Date.now();
  await Promise.all(
    [...byMinute.entries()]
      // data older than the view keeps is not worth a key
      .filter(([minute]) => minute > now - REALTIME_TTL_SECONDS * 1000)
      .map(([minute, args]) => redis.eval(UPDATE_MINUTE, 1, keys.realtimeMinute(minute), ...args)),
  );
}
