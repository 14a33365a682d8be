import {
  MINUTE_MS,
  REALTIME_BLOCK_MS,
  RealtimeViewReader,
  minuteStart,
  queueRealtimeHash,
  realtimeBlockStart,
  realtimeHashFields,
  realtimeSeriesFieldPattern,
  type RealtimeStat,
  type SeriesIdentityKey,
} from '@otel-bandwidth/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context';
import { columnsOf, sendCsv } from '../csv';
import { RealtimeSums, round3 } from '../realtime-sums';
import { MinutesQuery, MinutesResponse, MinuteTotals } from '../schemas';

const MINUTE_COLUMNS = columnsOf<MinuteTotals>(MinuteTotals);
/** what a minute's figures need; the wire byte counts are left unparsed */
const STATS: ReadonlySet<RealtimeStat> = new Set<RealtimeStat>([
  'requests', 'inboundBytes', 'outboundBytes', 'errors', 'durationSumMs', 'maxDurationMs', 'minDurationMs', 'durationBucket',
]);

/** Fields an HSCAN asks Redis to look at a call: a ten-minute block at a full table of series has some 50,000. */
const SCAN_COUNT = 10_000;
/**
 * Past this many of a block's fields, and half of them, its minutes are read whole: asking each
 * minute for most of its block's fields by name sends more than reading the minute does (a
 * series seen in one minute of the block is asked of all ten).
 */
const MANY_FIELDS = 2_000;

/**
 * The fields of a ten-minute block's hash that `pattern` matches and `wanted` keeps, or undefined
 * when its minutes are to be read whole: the block hash does not exist (minutes an aggregator
 * from before the blocks wrote), or the filter keeps most of a large block.
 */
async function blockFields(ctx: ApiContext, blockStart: number, pattern: string, wanted: (field: string) => boolean): Promise<string[] | undefined> {
  const key = ctx.keys.realtimeBlock(blockStart);
  // Redis keeps no empty hash: 0 is a block never written (or expired)
  const size = await ctx.redis.hlen(key);
  if (size === 0) return undefined;
  // HSCAN may send a field twice
  const fields = new Set<string>();
  let cursor = '0';
  do {
    const [next, flat] = await ctx.redis.hscan(key, cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT);
    for (let i = 0; i < flat.length; i += 2) {
      const field = flat[i] as string;
      if (wanted(field)) fields.add(field);
    }
    cursor = next;
  } while (cursor !== '0');
  return fields.size > MANY_FIELDS && fields.size * 2 > size ? undefined : [...fields];
}

/**
 * The minutes' fields of the series an endpoint or method filter keeps, as flat [field, value,
 * ...] replies, without reading the minutes' full hashes (at a full table of series some
 * 30,000 fields each). A block holds every field any of its minutes has (the same EVAL writes
 * both), so the block hashes of the window, scanned with a pattern that narrows by the filter
 * (realtimeSeriesFieldPattern), name the fields to ask each minute for (HMGET). A minute whose
 * block hash does not exist, or whose block the filter keeps most of, is read whole. A series
 * whose first request lands between the scan and the reads shows from the next read.
 */
async function filteredMinuteHashes(ctx: ApiContext, first: number, last: number, pattern: string, wanted: (field: string) => boolean): Promise<unknown[]> {
  const firstBlock = realtimeBlockStart(first);
  const blockStarts: number[] = [];
  for (let b = firstBlock; b <= last; b += REALTIME_BLOCK_MS) blockStarts.push(b);
  const blocks = await Promise.all(blockStarts.map((b) => blockFields(ctx, b, pattern, wanted)));
  const pipeline = ctx.redis.pipeline();
  /** per minute: the fields asked for, undefined for a whole hash read, null for no read */
  const asked: Array<string[] | undefined | null> = [];
  for (let m = first; m <= last; m += MINUTE_MS) {
    const fields = blocks[(realtimeBlockStart(m) - firstBlock) / REALTIME_BLOCK_MS];
    if (fields === undefined) queueRealtimeHash(pipeline, ctx.keys.realtimeMinute(m));
    else if (fields.length > 0) pipeline.hmget(ctx.keys.realtimeMinute(m), ...fields);
    asked.push(fields !== undefined && fields.length === 0 ? null : fields);
  }
  const results = (await pipeline.exec()) ?? [];
  let next = 0;
  return asked.map((fields) => {
    if (fields === null) return [];
    const [err, reply] = results[next++] ?? [new Error('a pipelined read of the realtime view went unanswered'), undefined];
    if (err) throw err;
    if (fields === undefined) return reply;
    const values = reply as Array<string | null>;
    const flat: string[] = [];
    fields.forEach((field, i) => {
      const value = values[i];
      if (value !== null && value !== undefined) flat.push(field, value);
    });
    return flat;
  });
}

/**
 * Reads each minute's per-service hash (filters that name no endpoint or method). The replies as
 * they come (queueRealtimeHash), for a RealtimeViewReader.
 */
async function serviceMinuteHashes(ctx: ApiContext, first: number, last: number): Promise<unknown[]> {
  const pipeline = ctx.redis.pipeline();
  for (let m = first; m <= last; m += MINUTE_MS) {
    queueRealtimeHash(pipeline, ctx.keys.realtimeServiceMinute(m));
    pipeline.exists(ctx.keys.realtimeMinute(m));
  }
  const results = (await pipeline.exec()) ?? [];
  for (const [err] of results) if (err) throw err;
  const hashes: unknown[] = [];
  // a minute an aggregator from before the per-service hash wrote: its full hash, summed here
  const older: number[] = [];
  for (let i = 0; i < results.length; i += 2) {
    const reply = results[i]?.[1];
    if (realtimeHashFields(reply).length === 0 && results[i + 1]?.[1] === 1) older.push(i / 2);
    hashes.push(reply);
  }
  if (older.length > 0) {
    const full = ctx.redis.pipeline();
    for (const i of older) queueRealtimeHash(full, ctx.keys.realtimeMinute(first + i * MINUTE_MS));
    const read = (await full.exec()) ?? [];
    read.forEach(([err, reply], j) => {
      if (err) throw err;
      hashes[older[j] as number] = reply;
    });
  }
  return hashes;
}

/**
 * Each minute of the last N from the realtime view, summed over the series the filters keep: the
 * traffic's shape at a minute's resolution (a spike, a slowdown), where /metrics/hours has hours.
 * Without an endpoint or method filter it reads the per-service hashes (a few dozen fields a
 * service and minute), so that the dashboard's hour of minutes costs kilobytes at a full table
 * of series; with one, the fields of the series it keeps, found in the window's block hashes
 * (filteredMinuteHashes). Never scans the keyspace.
 */
export async function readMinutes(ctx: ApiContext, q: MinutesQuery, nowMs = Date.now()): Promise<MinutesResponse> {
  const last = minuteStart(nowMs);
  const first = last - (q.minutes - 1) * MINUTE_MS;
  const method = q.method?.toUpperCase();
  const perService = q.endpoint === undefined && method === undefined;
  // one reader for the window: each series' fields are worked out, and filtered, the first time they are met
  const reader = new RealtimeViewReader<SeriesIdentityKey>({
    stats: STATS,
    series: (s) =>
      (q.service !== undefined && s.service !== q.service) || (q.endpoint !== undefined && s.endpoint !== q.endpoint) || (method !== undefined && s.method !== method)
        ? undefined
        : s,
  });
  const hashes = perService
    ? await serviceMinuteHashes(ctx, first, last)
    : await filteredMinuteHashes(ctx, first, last, realtimeSeriesFieldPattern({ service: q.service, method, endpoint: q.endpoint }), (field) => reader.visits(field));
  const minutes: MinuteTotals[] = hashes.map((reply, i) => {
    const sums = new RealtimeSums();
    reader.read(reply, (_series, stat, n, bucket) => sums.add(stat, n, bucket));
    const served = sums.requests > 0;
    return {
      minuteStart: new Date(first + i * MINUTE_MS).toISOString(),
      totalRequests: sums.requests,
      totalInbound: sums.inbound,
      totalOutbound: sums.outbound,
      errorCount: sums.errors,
      avgResponseTime: sums.avgMs(),
      maxResponseTime: served ? round3(sums.maxMs) : 0,
      p95ResponseTime: served ? sums.durations.quantile(0.95) : null,
    };
  });
  return { from: new Date(first).toISOString(), minutes };
}

export function minutesRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/minutes',
      {
        schema: {
          summary: 'Each minute of the last N (from Redis): requests, bytes, errors and latency, oldest first',
          querystring: MinutesQuery,
          response: { 200: MinutesResponse },
        },
      },
      async (req, reply) => {
        const answer = await readMinutes(ctx, req.query);
        return req.query.format === 'csv' ? sendCsv(reply, 'minutes', MINUTE_COLUMNS, answer.minutes) : answer;
      },
    );
  };
}
