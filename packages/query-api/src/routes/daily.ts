import { DAY_MS, utcDate } from '@otel-bandwidth/core';
import { metricsDaily } from '@otel-bandwidth/storage';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, desc, eq, gte, type SQL } from 'drizzle-orm';
import type { ApiContext } from '../api-context';
import { columnsOf, sendCsv } from '../csv';
import { DailyQuery, DailyResponse, DailyRow } from '../schemas';

const DAILY_COLUMNS = columnsOf<DailyRow>(DailyRow);

/** The metrics_daily rows of the UTC days overlapping the last N days, newest first (the table is kept whole, no retention). */
export async function readDaily(ctx: ApiContext, q: DailyQuery, nowMs = Date.now()): Promise<DailyRow[]> {
  const t = metricsDaily;
  const since = utcDate(nowMs - q.days * DAY_MS);
  const where: SQL[] = [gte(t.date, since)];
  if (q.service !== undefined) where.push(eq(t.service, q.service));
  const rows = await ctx.mysql.db
    .select()
    .from(t)
    .where(and(...where))
    .orderBy(desc(t.date), t.service, t.protocol)
    .limit(50_000);
  return rows.map((r) => ({
    id: r.id,
    service: r.service,
    date: r.date,
    protocol: r.protocol,
    total_bandwidth: r.totalBandwidth,
    total_inbound: r.totalInbound,
    total_outbound: r.totalOutbound,
    total_inbound_wire: r.totalInboundWire,
    total_outbound_wire: r.totalOutboundWire,
    total_requests: r.totalRequests,
    error_count: r.errorCount,
    avg_response_time: Number(r.avgResponseTime ?? 0),
    peak_bandwidth: r.peakBandwidth,
    peak_hour: r.peakHour === null ? null : r.peakHour.toISOString(),
    unique_users: r.uniqueUsers,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  }));
}

export function dailyRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/daily',
      {
        schema: {
          summary: 'Daily rows (metrics_daily, from MySQL) of the last N days, newest first: bandwidth, requests, errors, average latency, the busiest hour and unique users of each service and day',
          querystring: DailyQuery,
          response: { 200: DailyResponse },
        },
      },
      async (req, reply) => {
        const rows = await readDaily(ctx, req.query);
        return req.query.format === 'csv' ? sendCsv(reply, 'daily', DAILY_COLUMNS, rows) : rows;
      },
    );
  };
}
