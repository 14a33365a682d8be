import { oldestUnappliedEntryId, readStreamGroup, streamIdTime, type RedisKeys } from '@otel-bandwidth/core';
import type { Cluster, Redis } from 'ioredis';

/**
 * When the oldest entry of the stream that the group has not applied yet was added (Redis's clock,
 * ms); undefined when every entry has been applied (or there is no stream).
 */
export async function oldestUnappliedEntryMs(redis: Redis | Cluster, keys: RedisKeys, group: string): Promise<number | undefined> {
  const id = await oldestUnappliedEntryId(redis, keys.stream, group, await readStreamGroup(redis, keys.stream, group));
  return id === undefined ? undefined : streamIdTime(id);
}
