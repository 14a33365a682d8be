import type { RedisKeys } from '@otel-bandwidth/core';
import type { Cluster, Redis } from 'ioredis';

/** Redis's stream id `<ms>-<seq>`: the ms part is Redis's clock when the entry was added. */
const idTime = (id: string): number => Number(id.split('-')[0]);

function groupInfo(row: Array<string | number | null>): Map<string, string | number | null> {
  const m = new Map<string, string | number | null>();
  for (let i = 0; i + 1 < row.length; i += 2) m.set(String(row[i]), row[i + 1] ?? null);
  return m;
}

/**
 * When the oldest entry of the stream that the group has not applied yet was added (Redis's clock,
 * ms): the smallest of its pending entries (delivered, not acknowledged) and of those not yet
 * delivered. Undefined when every entry has been applied (or there is no stream or group).
 */
export async function oldestUnappliedEntryMs(redis: Redis | Cluster, keys: RedisKeys, group: string): Promise<number | undefined> {
  let info: Map<string, string | number | null> | undefined;
  try {
    const groups = (await redis.xinfo('GROUPS', keys.stream)) as Array<Array<string | number | null>>;
    info = groups.map(groupInfo).find((g) => g.get('name') === group);
  } catch (err) {
    if (String((err as Error).message).includes('no such key')) return undefined;
    throw err;
  }
  if (info === undefined) {
    const first = await redis.xrange(keys.stream, '-', '+', 'COUNT', 1);
    return first[0] === undefined ? undefined : idTime(first[0][0]);
  }
  if (Number(info.get('pending') ?? 0) > 0) {
    const summary = (await redis.xpending(keys.stream, group)) as [number, string | null, ...unknown[]];
    if (summary[1] !== null) return idTime(summary[1]);
  }
  const next = await redis.xrange(keys.stream, `(${String(info.get('last-delivered-id') ?? '0-0')}`, '+', 'COUNT', 1);
  return next[0] === undefined ? undefined : idTime(next[0][0]);
}
