import { HOUR_MS, hourStart } from '@otel-bandwidth/core';
import { metricsUsersHourly } from '@otel-bandwidth/storage';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { and, countDistinct, desc, eq, gte, sql, sum, type SQL } from 'drizzle-orm';
import type { ApiContext } from '../api-context';
import { columnsOf, sendCsv } from '../csv';
import { UserUsageRow, UsersQuery, UsersResponse } from '../schemas';

const USER_COLUMNS = columnsOf<UserUsageRow>(UserUsageRow);

/** The users who cost the most bandwidth over the hours overlapping the last N, and how many users there were. */
export async function readUsers(ctx: ApiContext, q: UsersQuery, nowMs = Date.now()): Promise<UsersResponse> {
  const t = metricsUsersHourly;
  const since = new Date(hourStart(nowMs - q.hours * HOUR_MS));
  const where: SQL[] = [gte(t.hourStart, since)];
  if (q.service !== undefined) where.push(eq(t.service, q.service));
  const bandwidth = sql<string>`SUM(${t.totalInbound} + ${t.totalOutbound})`;
  const [rows, unique] = await Promise.all([
    ctx.mysql.db
      .select({ service: t.service, userId: t.userId, requests: sum(t.requests), inbound: sum(t.totalInbound), outbound: sum(t.totalOutbound), bandwidth })
      .from(t)
      .where(and(...where))
      .groupBy(t.service, t.userId)
      .orderBy(desc(bandwidth), t.service, t.userId)
      .limit(q.limit),
    ctx.mysql.db.select({ n: countDistinct(t.userId) }).from(t).where(and(...where)),
  ]);
  return {
    from: since.toISOString(),
    uniqueUsers: Number(unique[0]?.n ?? 0),
    users: rows.map((r) => ({
      service: r.service,
      userId: r.userId,
      totalRequests: Number(r.requests ?? 0),
      totalInbound: Number(r.inbound ?? 0),
      totalOutbound: Number(r.outbound ?? 0),
      totalBandwidth: Number(r.bandwidth ?? 0),
    })),
  };
}

export function usersRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/users',
      {
        schema: {
          summary: 'The users who cost the most bandwidth over the last N hours (from MySQL), and how many users there were',
          querystring: UsersQuery,
          response: { 200: UsersResponse },
        },
      },
      async (req, reply) => {
        const answer = await readUsers(ctx, req.query);
        return req.query.format === 'csv' ? sendCsv(reply, 'users', USER_COLUMNS, answer.users) : answer;
      },
    );
  };
}
