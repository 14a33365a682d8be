import { REALTIME_TTL_SECONDS, realtimeBlockStart, realtimeBucketField, realtimeField, realtimeSeriesCode, serviceTotalsSeries, type RedisKeys } from '@otel-bandwidth/core';
import type { Cluster, Redis } from 'ioredis';
import { emptyTotals, type BatchRollup, type SeriesTotals } from './batch-rollup';

// KEYS: the minute's hash, its per-service hash, its block's hash. ARGV: ttl, the number of
// series triples, then triples (op, field, value), the series' (added to the minute and its block)
// and then the services' (added to the per-service hash): i = HINCRBY, f = HINCRBYFLOAT, x = keep
// the max, n = keep the min
const UPDATE_MINUTE = `
local function apply(key, op, field, value)
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
local seriesEnd = 3 + 3 * tonumber(ARGV[2])
for i = 3, seriesEnd - 1, 3 do
  apply(KEYS[1], ARGV[i], ARGV[i + 1], ARGV[i + 2])
  apply(KEYS[3], ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
for i = seriesEnd, #ARGV, 3 do
  apply(KEYS[2], ARGV[i], ARGV[i + 1], ARGV[i + 2])
end
for k = 1, 3 do
  redis.call('EXPIRE', KEYS[k], ARGV[1])
end
return 1
`;

/** The fields a series' totals add to a minute's hash: ARGV triples of UPDATE_MINUTE. */
function pushTotals(args: string[], code: string, t: SeriesTotals): void {
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

/** Adds a series' totals into a service's. */
function addInto(sum: SeriesTotals, t: SeriesTotals): void {
  sum.requests += t.requests;
  sum.inboundBytes += t.inboundBytes;
  sum.outboundBytes += t.outboundBytes;
  sum.inboundWireBytes += t.inboundWireBytes;
  sum.outboundWireBytes += t.outboundWireBytes;
  sum.errors += t.errors;
  sum.successes += t.successes;
  sum.durationSumMs += t.durationSumMs;
  sum.minDurationMs = Math.min(sum.minDurationMs, t.minDurationMs);
  sum.maxDurationMs = Math.max(sum.maxDurationMs, t.maxDurationMs);
  t.durationBuckets.forEach((n, i) => (sum.durationBuckets[i] = (sum.durationBuckets[i] as number) + n));
}

/**
 * Adds a flush's per-minute totals to the realtime view (layout: core's realtime-view.ts): one
 * hash per minute of data time, one of the same minute summed per service, and the minute's
 * ten-minute block, which gets the same updates as the minute's hash, all expiring after two
 * hours and written by one EVAL a minute, so that a block never holds a flush its minutes do not.
 * Each series' non-zero duration bucket counts are added, and its fastest and slowest request
 * kept, so that readers can estimate percentiles. Called only with batches that MySQL applied for
 * the first time (the ledger's guard keeps a redelivered batch out of minutes and blocks alike).
 */
export async function updateRealtimeView(redis: Redis | Cluster, keys: RedisKeys, rollup: BatchRollup): Promise<void> {
  const byMinute = new Map<number, { args: string[]; services: Map<string, SeriesTotals> }>();
  for (const b of rollup.minutely.values()) {
    if (b.key.direction !== 'server') continue;
    let minute = byMinute.get(b.startMs);
    if (!minute) {
      minute = { args: [], services: new Map() };
      byMinute.set(b.startMs, minute);
    }
    pushTotals(minute.args, realtimeSeriesCode(b.key), b.totals);
    let service = minute.services.get(b.key.service);
    if (!service) {
      service = emptyTotals();
      minute.services.set(b.key.service, service);
    }
    addInto(service, b.totals);
  }
  const now = Date.now();
  const writes: Array<Promise<unknown>> = [];
  for (const [start, minute] of byMinute) {
    // data older than the view keeps is not worth a key
    if (start <= now - REALTIME_TTL_SECONDS * 1000) continue;
    const serviceArgs: string[] = [];
    for (const [service, totals] of minute.services) pushTotals(serviceArgs, realtimeSeriesCode(serviceTotalsSeries(service)), totals);
    const keyNames = [keys.realtimeMinute(start), keys.realtimeServiceMinute(start), keys.realtimeBlock(realtimeBlockStart(start))];
    const argv = [String(REALTIME_TTL_SECONDS), String(minute.args.length / 3), ...minute.args, ...serviceArgs];
    writes.push(redis.eval(UPDATE_MINUTE, keyNames.length, ...keyNames, ...argv));
  }
  await Promise.all(writes);
}
