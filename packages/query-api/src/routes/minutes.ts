import { DurationTally, MINUTE_MS, minuteStart, visitRealtimeHash, type RealtimeStat } from '@otel-bandwidth/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context';
import { columnsOf, sendCsv } from '../csv';
import { MinutesQuery, MinutesResponse, MinuteTotals } from '../schemas';

const MINUTE_COLUMNS = columnsOf<MinuteTotals>(MinuteTotals);
/** what a minute's figures need; the wire byte counts are left unparsed */
const STATS: ReadonlySet<RealtimeStat> = new Set<RealtimeStat>([
  'requests', 'inboundBytes', 'outboundBytes', 'errors', 'durationSumMs', 'maxDurationMs', 'minDurationMs', 'durationBucket',
]);
const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * Each minute of the last N from the realtime view, summed over the series the filters keep: the
 * traffic's shape at a minute's resolution (a spike, a slowdown), where /metrics/hours has hours.
 * Reads exactly N keys, never scans.
 */
export async function readMinutes(ctx: ApiContext, q: MinutesQuery, nowMs = Date.now()): Promise<MinutesResponse> {
  const last = minuteStart(nowMs);
  const first = last - (q.minutes - 1) * MINUTE_MS;
  const method = q.method?.toUpperCase();
  const pipeline = ctx.redis.pipeline();
  for (let m = first; m <= last; m += MINUTE_MS) pipeline.hgetall(ctx.keys.realtimeMinute(m));
  const results = (await pipeline.exec()) ?? [];
  const minutes: MinuteTotals[] = [];
  results.forEach(([err, hash], i) => {
    if (err) throw err;
    const t: MinuteTotals = {
      minuteStart: new Date(first + i * MINUTE_MS).toISOString(),
      totalRequests: 0, totalInbound: 0, totalOutbound: 0, errorCount: 0, avgResponseTime: 0, maxResponseTime: 0, p95ResponseTime: null,
    };
    let durationSumMs = 0;
    const durations = new DurationTally();
    visitRealtimeHash(
      (hash ?? {}) as Record<string, string>,
      (stat, s, _code, n, bucket) => {
        if ((q.service !== undefined && s.service !== q.service) || (q.endpoint !== undefined && s.endpoint !== q.endpoint) || (method !== undefined && s.method !== method)) return;
        switch (stat) {
          case 'requests': t.totalRequests += n; break;
          case 'inboundBytes': t.totalInbound += n; break;
          case 'outboundBytes': t.totalOutbound += n; break;
          case 'errors': t.errorCount += n; break;
          case 'durationSumMs': durationSumMs += n; break;
          case 'maxDurationMs': t.maxResponseTime = Math.max(t.maxResponseTime, n); durations.addMax(n); break;
          case 'minDurationMs': durations.addMin(n); break;
          case 'durationBucket': if (bucket !== undefined) durations.addBucket(bucket, n); break;
        }
      },
      STATS,
    );
    if (t.totalRequests > 0) {
      t.avgResponseTime = round3(durationSumMs / t.totalRequests);
      t.maxResponseTime = round3(t.maxResponseTime);
      t.p95ResponseTime = durations.quantile(0.95);
    } else t.maxResponseTime = 0;
    minutes.push(t);
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
