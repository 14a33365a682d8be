import { DurationTally, MINUTE_MS, RealtimeViewReader, minuteStart, queueRealtimeHash, type RealtimeStat, type SeriesIdentityKey } from '@otel-bandwidth/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context';
import { RealtimeSums, round3 } from '../realtime-sums';
import { RealtimeQuery, RealtimeResponse, type RealtimeEndpoint } from '../schemas';

/**
 * Sums the minute buckets of the window; reads exactly `minutes` keys, never scans. Percentiles
 * are estimated as /metrics/endpoints estimates them, from the duration buckets summed over the
 * window's minutes (and, for the summary, its endpoints), narrowed to the window's fastest and
 * slowest request.
 */
export async function readRealtime(ctx: ApiContext, minutes: number, service: string | undefined, nowMs = Date.now()): Promise<RealtimeResponse> {
  const last = minuteStart(nowMs);
  const first = last - (minutes - 1) * MINUTE_MS;
  const pipeline = ctx.redis.pipeline();
  for (let m = first; m <= last; m += MINUTE_MS) queueRealtimeHash(pipeline, ctx.keys.realtimeMinute(m));
  const results = (await pipeline.exec()) ?? [];
  const series: Array<{ identity: SeriesIdentityKey; sums: RealtimeSums }> = [];
  // one reader for the window: a series' fields are worked out in the first minute that has them
  const reader = new RealtimeViewReader({
    series: (identity) => {
      if (service !== undefined && identity.service !== service) return undefined;
      const acc = { identity, sums: new RealtimeSums() };
      series.push(acc);
      return acc;
    },
  });
  const add = (acc: { sums: RealtimeSums }, stat: RealtimeStat, n: number, bucket: number | undefined): void => acc.sums.add(stat, n, bucket);
  for (const [err, reply] of results) {
    if (err) throw err;
    reader.read(reply, add);
  }
  const endpoints: RealtimeEndpoint[] = [];
  let durationSumMs = 0;
  const durations = new DurationTally();
  const summary: RealtimeResponse['summary'] = {
    totalBandwidth: 0, totalInbound: 0, totalOutbound: 0, totalRequests: 0, errorCount: 0, avgResponseTime: 0, p95ResponseTime: null,
  };
  for (const { identity, sums } of series) {
    endpoints.push({
      ...identity,
      totalRequests: sums.requests,
      totalInbound: sums.inbound,
      totalOutbound: sums.outbound,
      totalInboundWire: sums.inboundWire,
      totalOutboundWire: sums.outboundWire,
      avgResponseTime: sums.avgMs(),
      maxResponseTime: round3(sums.maxMs),
      errorCount: sums.errors,
      p50ResponseTime: sums.durations.quantile(0.5),
      p95ResponseTime: sums.durations.quantile(0.95),
      p99ResponseTime: sums.durations.quantile(0.99),
    });
    durations.addTally(sums.durations);
    durationSumMs += sums.durationSumMs;
    summary.totalInbound += sums.inbound;
    summary.totalOutbound += sums.outbound;
    summary.totalRequests += sums.requests;
    summary.errorCount += sums.errors;
  }
  summary.totalBandwidth = summary.totalInbound + summary.totalOutbound;
  summary.avgResponseTime = summary.totalRequests > 0 ? round3(durationSumMs / summary.totalRequests) : 0;
  summary.p95ResponseTime = durations.quantile(0.95);
  endpoints.sort((a, b) => b.totalInbound + b.totalOutbound - (a.totalInbound + a.totalOutbound) || a.endpoint.localeCompare(b.endpoint));
  return {
    windowMinutes: minutes,
    from: new Date(first).toISOString(),
    to: new Date(last + MINUTE_MS).toISOString(),
    endpoints,
    summary,
  };
}


export function realtimeRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/realtime',
      {
        schema: {
          summary: 'Per-endpoint totals over the last N minutes (from Redis)',
          querystring: RealtimeQuery,
          response: { 200: RealtimeResponse },
        },
      },
      async (req) => readRealtime(ctx, req.query.minutes, req.query.service),
    );
  };
}
