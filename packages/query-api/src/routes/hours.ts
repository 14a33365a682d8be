import { HOUR_MS, hourStart } from '@otel-bandwidth/core';
import { metricsHourly } from '@otel-bandwidth/storage';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, eq, gte, sum, type SQL } from 'drizzle-orm';
import type { ApiContext } from '../api-context';
import { HoursQuery, HoursResponse } from '../schemas';

/**
 * Requests and body bytes a hour over the hours overlapping the last N (the hours /metrics/users
 * counts), summed in MySQL: one row a hour whatever the number of endpoints, every hour listed
 * (0 when nothing was served); and the services seen in them.
 */
export async function readHours(ctx: ApiContext, q: HoursQuery, nowMs = Date.now()): Promise<HoursResponse> {
  const t = metricsHourly;
  const first = hourStart(nowMs - q.hours * HOUR_MS);
  const last = hourStart(nowMs);
  const where: SQL[] = [gte(t.hourStart, new Date(first))];
  if (q.service !== undefined) where.push(eq(t.service, q.service));
  const [rows, services] = await Promise.all([
    ctx.mysql.db
      .select({ hourStart: t.hourStart, requests: sum(t.totalRequests), inbound: sum(t.totalInbound), outbound: sum(t.totalOutbound), errors: sum(t.errorCount) })
      .from(t)
      .where(and(...where))
      .groupBy(t.hourStart),
    ctx.mysql.db.selectDistinct({ service: t.service }).from(t).where(gte(t.hourStart, new Date(first))).orderBy(t.service),
  ]);
  const byHour = new Map(rows.map((r) => [r.hourStart.getTime(), r]));
  const hours: HoursResponse['hours'] = [];
  for (let h = first; h <= last; h += HOUR_MS) {
    const r = byHour.get(h);
    hours.push({
      hourStart: new Date(h).toISOString(),
      totalRequests: Number(r?.requests ?? 0),
      totalInbound: Number(r?.inbound ?? 0),
      totalOutbound: Number(r?.outbound ?? 0),
      errorCount: Number(r?.errors ?? 0),
    });
  }
  return { from: new Date(first).toISOString(), hours, services: services.map((s) => s.service) };
}

export function hoursRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/hours',
      {
        schema: {
          summary: 'Requests and body bytes a hour over the last N hours, all endpoints summed (from MySQL), and the services seen',
          querystring: HoursQuery,
          response: { 200: HoursResponse },
        },
      },
      async (req) => readHours(ctx, req.query),
    );
  };
}
