import { HOUR_MS, durationQuantile, hourStart } from '@otel-bandwidth/core';
import { DURATION_BUCKET_COLUMNS, metricsClientHourly, metricsHourly } from '@otel-bandwidth/storage';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, asc, count, desc, eq, gte, max, min, sql, sum, type SQL } from 'drizzle-orm';
import type { ApiContext } from '../api-context';
import { columnsOf, sendCsv } from '../csv';
import { EndpointsQuery, EndpointsResponse, EndpointTotals } from '../schemas';

const ENDPOINT_COLUMNS = columnsOf<EndpointTotals>(EndpointTotals);

/**
 * Each endpoint's totals over the hours overlapping the last N, summed in MySQL from the hourly
 * rows, with its latency percentiles estimated from the summed duration buckets
 * (durationQuantile). Sorted by a sum, MySQL orders and limits; sorted by a percentile, which
 * MySQL cannot compute, every endpoint of the window is read and ordered here.
 */
export async function readEndpoints(ctx: ApiContext, q: EndpointsQuery, nowMs = Date.now()): Promise<EndpointsResponse> {
  const t = q.direction === 'client' ? metricsClientHourly : metricsHourly;
  const since = new Date(hourStart(nowMs - q.hours * HOUR_MS));
  const where: SQL[] = [gte(t.hourStart, since)];
  if (q.service !== undefined) where.push(eq(t.service, q.service));
  if (q.endpoint !== undefined) where.push(eq(t.endpoint, q.endpoint));
  if (q.method !== undefined) where.push(eq(t.method, q.method.toUpperCase()));
  const bandwidth = sql<string>`SUM(${t.totalInbound} + ${t.totalOutbound})`;
  const order = q.sort === 'requests' ? sum(t.totalRequests) : q.sort === 'errors' ? sum(t.errorCount) : bandwidth;
  const buckets = Object.fromEntries(DURATION_BUCKET_COLUMNS.map((col, i) => [`b${i}`, sql<string>`SUM(${sql.identifier(col)})`]));
  const byPercentile = q.sort === 'p95' || q.sort === 'p99';
  const grouped = ctx.mysql.db
    .select({
      service: t.service,
      endpoint: t.endpoint,
      method: t.method,
      protocol: t.protocol,
      requests: sum(t.totalRequests),
      inbound: sum(t.totalInbound),
      outbound: sum(t.totalOutbound),
      inboundWire: sum(t.totalInboundWire),
      outboundWire: sum(t.totalOutboundWire),
      errors: sum(t.errorCount),
      durationSumMs: sum(t.durationSumMs),
      minMs: min(t.minResponseTime),
      maxMs: max(t.maxResponseTime),
      ...buckets,
    })
    .from(t)
    .where(and(...where))
    .groupBy(t.service, t.endpoint, t.method, t.protocol)
    .orderBy(desc(order), asc(t.service), asc(t.endpoint), asc(t.method), asc(t.protocol));
  const groups = ctx.mysql.db
    .select({ n: count() })
    .from(
      ctx.mysql.db
        .select({ one: sql`1`.as('one') })
        .from(t)
        .where(and(...where))
        .groupBy(t.service, t.endpoint, t.method, t.protocol)
        .as('g'),
    );
  const [rows, counted] = await Promise.all([byPercentile ? grouped : grouped.limit(q.limit), groups]);
  let endpoints: EndpointTotals[] = rows.map((r) => {
    const row = r as typeof r & Record<string, string | null>;
    const requests = Number(r.requests ?? 0);
    const errors = Number(r.errors ?? 0);
    const inbound = Number(r.inbound ?? 0);
    const outbound = Number(r.outbound ?? 0);
    const distribution = {
      buckets: DURATION_BUCKET_COLUMNS.map((_, i) => Number(row[`b${i}`] ?? 0)),
      minMs: r.minMs === null ? null : Number(r.minMs),
      maxMs: Number(r.maxMs ?? 0),
    };
    return {
      service: r.service,
      endpoint: r.endpoint,
      method: r.method,
      protocol: r.protocol,
      totalRequests: requests,
      totalInbound: inbound,
      totalOutbound: outbound,
      totalBandwidth: inbound + outbound,
      totalInboundWire: Number(r.inboundWire ?? 0),
      totalOutboundWire: Number(r.outboundWire ?? 0),
      errorCount: errors,
      errorRate: requests > 0 ? errors / requests : 0,
      avgResponseTime: requests > 0 ? Math.round((Number(r.durationSumMs ?? 0) / requests) * 1000) / 1000 : 0,
      minResponseTime: requests > 0 ? distribution.minMs : null,
      maxResponseTime: distribution.maxMs,
      p50: durationQuantile(distribution, 0.5),
      p95: durationQuantile(distribution, 0.95),
      p99: durationQuantile(distribution, 0.99),
    };
  });
  if (byPercentile) {
    const key = q.sort as 'p95' | 'p99';
    // stable: rows come ordered by bandwidth, which breaks ties
    endpoints = endpoints.sort((a, b) => (b[key] ?? -1) - (a[key] ?? -1)).slice(0, q.limit);
  }
  return { from: since.toISOString(), direction: q.direction, sort: q.sort, total: Number(counted[0]?.n ?? 0), endpoints };
}

export function endpointsRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/endpoints',
      {
        schema: {
          summary: 'Each endpoint over the last N hours (from MySQL): requests, bytes, errors and latency percentiles, the costliest first',
          querystring: EndpointsQuery,
          response: { 200: EndpointsResponse },
        },
      },
      async (req, reply) => {
        const answer = await readEndpoints(ctx, req.query);
        return req.query.format === 'csv' ? sendCsv(reply, 'endpoints', ENDPOINT_COLUMNS, answer.endpoints) : answer;
      },
    );
  };
}
