import { DurationTally, MINUTE_MS, minuteStart, visitRealtimeHash } from '@otel-bandwidth/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context';
import { RealtimeQuery, RealtimeResponse, type RealtimeEndpoint } from '../schemas';

interface Acc {
  endpoint: RealtimeEndpoint;
  durationSumMs: number;
  /** the duration buckets, fastest and slowest request over the window's minutes */
  durations: DurationTally;
}

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
  for (let m = first; m <= last; m += MINUTE_MS) pipeline.hgetall(ctx.keys.realtimeMinute(m));
  const results = (await pipeline.exec()) ?? [];
  const series = new Map<string, Acc>();
  for (const [err, hash] of results) {
    if (err) throw err;
    visitRealtimeHash((hash ?? {}) as Record<string, string>, (stat, identity, code, n, bucket) => {
      if (service !== undefined && identity.service !== service) return;
      let acc = series.get(code);
      if (!acc) {
        acc = {
          endpoint: {
            ...identity,
            totalRequests: 0,
            totalInbound: 0,
            totalOutbound: 0,
            totalInboundWire: 0,
            totalOutboundWire: 0,
            avgResponseTime: 0,
            maxResponseTime: 0,
            errorCount: 0,
            p50ResponseTime: null,
            p95ResponseTime: null,
            p99ResponseTime: null,
          },
          durationSumMs: 0,
          durations: new DurationTally(),
        };
        series.set(code, acc);
      }
      const e = acc.endpoint;
      switch (stat) {
        case 'requests': e.totalRequests += n; break;
        case 'inboundBytes': e.totalInbound += n; break;
        case 'outboundBytes': e.totalOutbound += n; break;
        case 'inboundWireBytes': e.totalInboundWire += n; break;
        case 'outboundWireBytes': e.totalOutboundWire += n; break;
        case 'errors': e.errorCount += n; break;
        case 'durationSumMs': acc.durationSumMs += n; break;
        case 'maxDurationMs': e.maxResponseTime = Math.max(e.maxResponseTime, n); acc.durations.addMax(n); break;
        case 'minDurationMs': acc.durations.addMin(n); break;
        case 'durationBucket': if (bucket !== undefined) acc.durations.addBucket(bucket, n); break;
      }
    });
  }
  const endpoints: RealtimeEndpoint[] = [];
  let durationSumMs = 0;
  const durations = new DurationTally();
  const summary: RealtimeResponse['summary'] = {
    totalBandwidth: 0, totalInbound: 0, totalOutbound: 0, totalRequests: 0, errorCount: 0, avgResponseTime: 0, p95ResponseTime: null,
  };
  for (const acc of series.values()) {
    const e = acc.endpoint;
    e.avgResponseTime = e.totalRequests > 0 ? round3(acc.durationSumMs / e.totalRequests) : 0;
    e.maxResponseTime = round3(e.maxResponseTime);
    e.p50ResponseTime = acc.durations.quantile(0.5);
    e.p95ResponseTime = acc.durations.quantile(0.95);
    e.p99ResponseTime = acc.durations.quantile(0.99);
    durations.addTally(acc.durations);
    endpoints.push(e);
    durationSumMs += acc.durationSumMs;
    summary.totalInbound += e.totalInbound;
    summary.totalOutbound += e.totalOutbound;
    summary.totalRequests += e.totalRequests;
    summary.errorCount += e.errorCount;
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

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

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
