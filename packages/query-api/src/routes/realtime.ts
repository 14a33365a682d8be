import { DurationTally, MINUTE_MS, RealtimeViewReader, minuteStart, queueRealtimeHash, realtimeBlockMinutes, realtimeHashFields, realtimeWindowPlan, type RealtimeStat, type SeriesIdentityKey } from '@otel-bandwidth/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context';
import { RealtimeSums, round3 } from '../realtime-sums';
import { RealtimeQuery, RealtimeResponse, type RealtimeEndpoint } from '../schemas';

/**
 * The realtime view's hashes that hold the minutes `first` to `last`, as their HGETALL replies
 * (queueRealtimeHash): each whole ten-minute block inside the window from its block hash, the
 * minutes at the window's edges from their own. A block whose hash does not exist (data from
 * before the block hashes, or a block with no traffic) is read as its ten minutes instead, in a
 * second round trip: an hour's window reads at most 5 blocks and 10 minutes, not 60 minutes.
 */
async function windowHashes(ctx: ApiContext, first: number, last: number): Promise<unknown[]> {
  const plan = realtimeWindowPlan(first, last);
  const pipeline = ctx.redis.pipeline();
  for (const b of plan.blocks) queueRealtimeHash(pipeline, ctx.keys.realtimeBlock(b));
  for (const m of plan.minutes) queueRealtimeHash(pipeline, ctx.keys.realtimeMinute(m));
  const results = (await pipeline.exec()) ?? [];
  for (const [err] of results) if (err) throw err;
  const hashes = results.map(([, reply]) => reply);
  const missing = plan.blocks.filter((_, i) => realtimeHashFields(hashes[i]).length === 0);
  if (missing.length > 0) {
    const minutes = ctx.redis.pipeline();
    for (const b of missing) for (const m of realtimeBlockMinutes(b)) queueRealtimeHash(minutes, ctx.keys.realtimeMinute(m));
    for (const [err, reply] of (await minutes.exec()) ?? []) {
      if (err) throw err;
      hashes.push(reply);
    }
  }
  return hashes;
}

/** The order of the endpoints: the most bytes first, then by endpoint, service, method and protocol. */
function byBandwidth(a: RealtimeEndpoint, b: RealtimeEndpoint): number {
  return (
    b.totalInbound + b.totalOutbound - (a.totalInbound + a.totalOutbound) ||
    a.endpoint.localeCompare(b.endpoint) ||
    a.service.localeCompare(b.service) ||
    a.method.localeCompare(b.method) ||
    a.protocol.localeCompare(b.protocol)
  );
}

/**
 * Sums the window's minutes, from its whole ten-minute blocks and its edge minutes
 * (windowHashes); never scans. A block holds its minutes' fields summed, their least minimum and
 * greatest maximum, so the answer is the one the window's minutes give. Percentiles are estimated
 * as /metrics/endpoints estimates them, from the duration buckets summed over the window (and,
 * for the summary, its endpoints), narrowed to the window's fastest and slowest request.
 */
export async function readRealtime(ctx: ApiContext, minutes: number, service: string | undefined, nowMs = Date.now()): Promise<RealtimeResponse> {
  const last = minuteStart(nowMs);
  const first = last - (minutes - 1) * MINUTE_MS;
  const hashes = await windowHashes(ctx, first, last);
  const series: Array<{ identity: SeriesIdentityKey; sums: RealtimeSums }> = [];
  // one reader for the window: a series' fields are worked out in the first hash that has them
  const reader = new RealtimeViewReader({
    series: (identity) => {
      if (service !== undefined && identity.service !== service) return undefined;
      const acc = { identity, sums: new RealtimeSums() };
      series.push(acc);
      return acc;
    },
  });
  const add = (acc: { sums: RealtimeSums }, stat: RealtimeStat, n: number, bucket: number | undefined): void => acc.sums.add(stat, n, bucket);
  for (const reply of hashes) reader.read(reply, add);
  const rows = series.map(({ identity, sums }) => ({
    sums,
    endpoint: {
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
    } satisfies RealtimeEndpoint,
  }));
  // in the answer's order, whatever order the hashes met the series in: the summary's sums too
  rows.sort((x, y) => byBandwidth(x.endpoint, y.endpoint));
  let durationSumMs = 0;
  const durations = new DurationTally();
  const summary: RealtimeResponse['summary'] = {
    totalBandwidth: 0, totalInbound: 0, totalOutbound: 0, totalRequests: 0, errorCount: 0, avgResponseTime: 0, p95ResponseTime: null,
  };
  for (const { sums } of rows) {
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
  return {
    windowMinutes: minutes,
    from: new Date(first).toISOString(),
    to: new Date(last + MINUTE_MS).toISOString(),
    endpoints: rows.map((x) => x.endpoint),
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
