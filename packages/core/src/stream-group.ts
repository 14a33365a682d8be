/**
 * What a consumer group has not applied yet: read by the query API's /metrics/status (the
 * backlog and its age) and by the aggregators' alert monitor (which waits for it). Typed by the
 * few commands it uses, so that core needs no Redis client of its own: ioredis' Redis and Cluster
 * both fit.
 */
export interface StreamGroupClient {
  xinfo(subcommand: 'GROUPS', key: string): Promise<unknown>;
  xpending(key: string, group: string): Promise<unknown>;
  xrange(key: string, start: string, end: string, countToken: 'COUNT', count: number): Promise<Array<[id: string, fields: string[]]>>;
}

/** An XINFO reply (field, value, field, value ...) as a map. */
export type StreamInfo = Map<string, string | number | null>;

export function streamInfo(row: Array<string | number | null>): StreamInfo {
  const m: StreamInfo = new Map();
  for (let i = 0; i + 1 < row.length; i += 2) m.set(String(row[i]), row[i + 1] ?? null);
  return m;
}

/** A stream id's time: the ms part of `<ms>-<seq>`, Redis's clock when the entry was added. */
export const streamIdTime = (id: string): number => Number(id.split('-')[0]);

/** The group's XINFO GROUPS entry; undefined when the stream or the group does not exist. */
export async function readStreamGroup(redis: StreamGroupClient, stream: string, group: string): Promise<StreamInfo | undefined> {
  try {
    const groups = (await redis.xinfo('GROUPS', stream)) as Array<Array<string | number | null>>;
    return groups.map(streamInfo).find((g) => g.get('name') === group);
  } catch (err) {
    if (String((err as Error).message).includes('no such key')) return undefined;
    throw err;
  }
}

/**
 * The id of the oldest entry the group has not applied: the smallest of its pending entries
 * (delivered, not acknowledged), else the first it has not delivered; with no group, the stream's
 * first entry. Undefined when there is none.
 */
export async function oldestUnappliedEntryId(redis: StreamGroupClient, stream: string, group: string, info: StreamInfo | undefined): Promise<string | undefined> {
  if (info === undefined) return (await redis.xrange(stream, '-', '+', 'COUNT', 1))[0]?.[0];
  if (Number(info.get('pending') ?? 0) > 0) {
    const summary = (await redis.xpending(stream, group)) as [number, string | null, ...unknown[]];
    if (summary[1] !== null) return summary[1];
  }
  // Redis does not always know the lag (after some trims and deletions): then look
  const lag = info.get('lag');
  if (lag !== null && lag !== undefined && Number(lag) === 0) return undefined;
  return (await redis.xrange(stream, `(${String(info.get('last-delivered-id') ?? '0-0')}`, '+', 'COUNT', 1))[0]?.[0];
}
