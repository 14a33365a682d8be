import { MINUTE_MS, RealtimeViewReader, minuteStart, queueRealtimeHash, realtimeHashFields, type RealtimeStat, type SeriesIdentityKey } from '@otel-bandwidth/core';
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

/**
 * Reads each minute's hash: the per-service one when the filters name no endpoint or method. The
 * replies as they come (queueRealtimeHash), for a RealtimeViewReader.
 */
async function minuteHashes(ctx: ApiContext, first: number, last: number, perService: boolean): Promise<unknown[]> {
  const pipeline = ctx.redis.pipeline();
  for (let m = first; m <= last; m += MINUTE_MS) {
    if (perService) {
      queueRealtimeHash(pipeline, ctx.keys.realtimeServiceMinute(m));
      pipeline.exists(ctx.keys.realtimeMinute(m));
    } else queueRealtimeHash(pipeline, ctx.keys.realtimeMinute(m));
  }
  const results = (await pipeline.exec()) ?? [];
  for (const [err] of results) if (err) throw err;
  if (!perService) return results.map(([, reply]) => reply);
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
 * of series; with one, the minutes' full hashes. Never scans.
 */
export async function readMinutes(ctx: ApiContext, q: MinutesQuery, nowMs = Date.now()): Promise<MinutesResponse> {
  const last = minuteStart(nowMs);
  const first = last - (q.minutes - 1) * MINUTE_MS;
  const method = q.method?.toUpperCase();
  const perService = q.endpoint === undefined && method === undefined;
  const hashes = await minuteHashes(ctx, first, last, perService);
  // one reader for the window: each series' fields are worked out, and filtered, in the first minute that has them
  const reader = new RealtimeViewReader<SeriesIdentityKey>({
    stats: STATS,
    series: (s) =>
      (q.service !== undefined && s.service !== q.service) || (q.endpoint !== undefined && s.endpoint !== q.endpoint) || (method !== undefined && s.method !== method)
        ? undefined
        : s,
  });
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
