import { HOUR_MS } from '@otel-bandwidth/core';
import { bandwidthAlerts } from '@otel-bandwidth/storage';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, count, desc, eq, gte, isNotNull, isNull, or, sql, type SQL } from 'drizzle-orm';
import type { ApiContext } from '../api-context';
import { AlertsQuery, AlertsResponse } from '../schemas';

/** The alerts open now (of the service, when given): rows of bandwidth_alerts not resolved. */
export async function countOpenAlerts(ctx: ApiContext, service?: string): Promise<number> {
  const t = bandwidthAlerts;
  const [row] = await ctx.mysql.db
    .select({ n: count() })
    .from(t)
    .where(and(isNull(t.resolvedAt), ...(service === undefined ? [] : [eq(t.service, service)])));
  return Number(row?.n ?? 0);
}

/**
 * The alerts of bandwidth_alerts open at some time in the last N hours: those resolved in them
 * and, unless only the resolved ones are asked for, every one still open whatever its age; the
 * open ones first, then newest opened first. `open` counts the alerts open now (of the service),
 * apart from the limit.
 */
export async function readAlerts(ctx: ApiContext, q: AlertsQuery, nowMs = Date.now()): Promise<AlertsResponse> {
  const t = bandwidthAlerts;
  const since = new Date(nowMs - q.hours * HOUR_MS);
  const service: SQL[] = q.service === undefined ? [] : [eq(t.service, q.service)];
  const inWindow =
    q.status === 'open'
      ? isNull(t.resolvedAt)
      : q.status === 'resolved'
        ? and(isNotNull(t.resolvedAt), gte(t.resolvedAt, since))
        : or(isNull(t.resolvedAt), gte(t.resolvedAt, since));
  const [rows, open] = await Promise.all([
    ctx.mysql.db
      .select({
        id: t.id,
        rule: t.rule,
        type: t.alertType,
        severity: t.severity,
        metric: t.metric,
        service: t.service,
        method: t.method,
        endpoint: t.endpoint,
        protocol: t.protocol,
        message: t.message,
        value: t.metricValue,
        threshold: t.thresholdValue,
        peak: t.peakValue,
        openedAt: t.createdAt,
        resolvedAt: t.resolvedAt,
      })
      .from(t)
      .where(and(inWindow, ...service))
      .orderBy(desc(sql`${t.resolvedAt} IS NULL`), desc(t.createdAt), desc(t.id))
      .limit(q.limit),
    countOpenAlerts(ctx, q.service),
  ]);
  return {
    alerts: rows.map((r) => {
      const openedMs = r.openedAt.getTime();
      const endMs = r.resolvedAt === null ? nowMs : r.resolvedAt.getTime();
      return {
        ...r,
        openedAt: r.openedAt.toISOString(),
        resolvedAt: r.resolvedAt === null ? null : r.resolvedAt.toISOString(),
        durationSeconds: Math.max(0, Math.floor((endMs - openedMs) / 1000)),
      };
    }),
    open,
  };
}

export function alertsRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/alerts',
      {
        schema: {
          summary: 'Alerts open at some time in the last N hours (from MySQL), open first, then newest first',
          querystring: AlertsQuery,
          response: { 200: AlertsResponse },
        },
      },
      async (req) => readAlerts(ctx, req.query),
    );
  };
}
