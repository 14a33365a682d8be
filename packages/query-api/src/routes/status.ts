import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context';
import { HealthResponse, StatusResponse } from '../schemas';

function infoMap(row: Array<string | number | null>): Map<string, string | number | null> {
  const m = new Map<string, string | number | null>();
  for (let i = 0; i + 1 < row.length; i += 2) m.set(String(row[i]), row[i + 1] ?? null);
  return m;
}

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
  if (streamLength > 0 || status.lastFlushMs) {
    try {
      const groups = (await redis.xinfo('GROUPS', keys.stream)) as Array<Array<string | number | null>>;
      const group = groups.map(infoMap).find((g) => g.get('name') === ctx.consumerGroup);
      if (group) {
        pending = Number(group.get('pending') ?? 0);
        consumers = Number(group.get('consumers') ?? 0);
        const l = group.get('lag');
        // lag is unknown to Redis after some trims/deletions: then count all but the pending
        lag = l === null || l === undefined ? Math.max(0, streamLength - pending) : Number(l);
      }
    } catch (err) {
      if (!String((err as Error).message).includes('no such key')) throw err;
    }
  }
  const bufferSize = lag + pending;
  const lastFlushMs = Number(status.lastFlushMs);
  return {
    bufferSize,
    lastPersist: Number.isFinite(lastFlushMs) && lastFlushMs > 0 ? new Date(lastFlushMs).toISOString() : null,
    status: bufferSize < ctx.bufferWarning ? 'healthy' : 'warning',
    streamLength,
    pending,
    lag,
    consumers,
    deadLetters,
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
