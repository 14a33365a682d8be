import { HOUR_MS, hourStart } from '@otel-bandwidth/core';
import { metricsClientHourly, metricsHourly } from '@otel-bandwidth/storage';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, desc, eq, gte, type SQL } from 'drizzle-orm';
import type { ApiContext } from '../api-context';
import { columnsOf, sendCsv } from '../csv';
import { HourlyQuery, HourlyResponse, HourlyRow } from '../schemas';

const HOURLY_COLUMNS = columnsOf<HourlyRow>(HourlyRow);

export async function readHourly(ctx: ApiContext, q: HourlyQuery, nowMs = Date.now()): Promise<HourlyRow[]> {
  const since = new Date(hourStart(nowMs - q.hours * HOUR_MS));
  const table = q.direction === 'client' ? metricsClientHourly : metricsHourly;
  const where: SQL[] = [gte(table.hourStart, since)];
  if (q.service !== undefined) where.push(eq(table.service, q.service));
  if (q.endpoint !== undefined) where.push(eq(table.endpoint, q.endpoint));
  if (q.method !== undefined) where.push(eq(table.method, q.method.toUpperCase()));
  const rows = await ctx.mysql.db
    .select()
    .from(table)
    .where(and(...where))
    .orderBy(desc(table.hourStart), table.service, table.endpoint, table.method)
    .limit(50_000);
  return rows.map((r) => ({
    id: r.id,
    service: r.service,
    endpoint: r.endpoint,
    method: r.method,
    protocol: r.protocol,
    hour_start: r.hourStart.toISOString(),
    total_requests: r.totalRequests,
    total_inbound: r.totalInbound,
    total_outbound: r.totalOutbound,
    total_inbound_wire: r.totalInboundWire,
    total_outbound_wire: r.totalOutboundWire,
    avg_response_time: Number(r.avgResponseTime ?? 0),
    max_response_time: Number(r.maxResponseTime),
    min_response_time: r.minResponseTime === null ? null : Number(r.minResponseTime),
    error_count: r.errorCount,
    success_count: r.successCount,
    created_at: r.createdAt.toISOString(),
    updated_at: r.updatedAt.toISOString(),
  }));
}

export function hourlyRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/hourly',
      {
        schema: {
          summary: 'Hourly rows of the last N hours (from MySQL), newest first',
          querystring: HourlyQuery,
          response: { 200: HourlyResponse },
        },
      },
      async (req, reply) => {
        const rows = await readHourly(ctx, req.query);
        return req.query.format === 'csv' ? sendCsv(reply, 'hourly', HOURLY_COLUMNS, rows) : rows;
      },
    );
  };
}
