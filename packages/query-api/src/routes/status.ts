import { oldestUnappliedEntryId, readStreamGroup, streamIdTime, streamInfo, type StreamInfo } from '@otel-bandwidth/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context';
import { HealthResponse, StatusResponse } from '../schemas';

/** A consumer idle longer than this is not counted active; a backlog older than this is a stall. */
const STALL_AFTER_MS = 60_000;

export async function readStatus(ctx: ApiContext): Promise<StatusResponse> {
  const { redis, keys } = ctx;
  const [streamLength, deadLetters, status] = await Promise.all([
    redis.xlen(keys.stream),
    redis.xlen(keys.deadLetter),
    redis.hgetall(keys.aggregatorStatus),
  ]);
  let pending = 0;
  let lag = streamLength;
  let consumers = 0;
  let activeConsumers = 0;
  let group: StreamInfo | undefined;
  if (streamLength > 0 || status.lastFlushMs) group = await readStreamGroup(redis, keys.stream, ctx.consumerGroup);
  if (group) {
    pending = Number(group.get('pending') ?? 0);
    consumers = Number(group.get('consumers') ?? 0);
    const l = group.get('lag');
    // lag is unknown to Redis after some trims/deletions: then count all but the pending
    lag = l === null || l === undefined ? Math.max(0, streamLength - pending) : Number(l);
    if (consumers > 0) {
      const list = ((await redis.xinfo('CONSUMERS', keys.stream, ctx.consumerGroup)) as Array<Array<string | number | null>>).map(streamInfo);
      activeConsumers = list.filter((c) => Number(c.get('idle') ?? Number.POSITIVE_INFINITY) < STALL_AFTER_MS).length;
    }
  }
  // the oldest entry no consumer of the group has applied yet
  const oldestId = streamLength > 0 || group !== undefined ? await oldestUnappliedEntryId(redis, keys.stream, ctx.consumerGroup, group) : undefined;
  const bufferSize = lag + pending;
  // against Redis's own clock, which made the entry's id: the API's host may run apart from it
  const [seconds, micros] = oldestId === undefined ? [0, 0] : await redis.time();
  const redisNowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  const backlogAgeMs = oldestId === undefined ? 0 : Math.max(0, redisNowMs - streamIdTime(oldestId));
  const problems: string[] = [];
  if (bufferSize >= ctx.bufferWarning) problems.push(`${bufferSize} entries wait to be applied (a warning from ${ctx.bufferWarning} on)`);
  if (bufferSize > 0 && activeConsumers === 0) {
    problems.push(`no aggregator has read the stream in the last ${STALL_AFTER_MS / 1000} s: start one (otel-bandwidth aggregator)`);
  } else if (backlogAgeMs > STALL_AFTER_MS) {
    problems.push(`the oldest entry not yet applied is ${Math.floor(backlogAgeMs / 1000)} s old: the aggregators are behind or cannot write to MySQL (see their logs)`);
  }
  const lastFlushMs = Number(status.lastFlushMs);
  return {
    bufferSize,
    lastPersist: Number.isFinite(lastFlushMs) && lastFlushMs > 0 ? new Date(lastFlushMs).toISOString() : null,
    status: problems.length === 0 ? 'healthy' : 'warning',
    streamLength,
    pending,
    lag,
    consumers,
    deadLetters,
    activeConsumers,
    backlogAgeSeconds: Math.floor(backlogAgeMs / 1000),
    problems,
  };
}

export function statusRoutes(ctx: ApiContext): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics/status',
      { schema: { summary: 'The pipeline buffer: entries waiting in the stream, last persist', response: { 200: StatusResponse } } },
      async () => readStatus(ctx),
    );
    app.get(
      '/healthz',
      { schema: { summary: 'Whether Redis and MySQL answer', response: { 200: HealthResponse, 503: HealthResponse } } },
      async (_req, reply) => {
        const check = async (f: () => Promise<unknown>): Promise<'ok' | 'down'> => {
          try {
            await Promise.race([f(), new Promise((_, rej) => setTimeout(() => rej(new Error('timeout')), 2000).unref())]);
            return 'ok';
          } catch {
            return 'down';
          }
        };
        const [redis, mysql] = await Promise.all([check(() => ctx.redis.ping()), check(() => ctx.mysql.pool.query('SELECT 1'))]);
        const ok = redis === 'ok' && mysql === 'ok';
        return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'unavailable', redis, mysql });
      },
    );
  };
}
