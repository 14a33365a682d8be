import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { ApiContext } from '../api-context';
import { backlogAgeMs, readPipelineState, type PipelineState } from '../pipeline-state';
import { HealthResponse, StatusResponse } from '../schemas';
import { withinDeadline } from '../store-deadline';

/** GET /metrics/status's answer from the pipeline's state. */
export function statusResponse(state: PipelineState): StatusResponse {
  return {
    bufferSize: state.bufferSize,
    lastPersist: state.lastFlushMs === undefined ? null : new Date(state.lastFlushMs).toISOString(),
    status: state.problems.length === 0 ? 'healthy' : 'warning',
    streamLength: state.streamLength,
    pending: state.pending,
    lag: state.lag,
    consumers: state.consumers,
    deadLetters: state.deadLetters,
    activeConsumers: state.activeConsumers,
    backlogAgeSeconds: Math.floor(backlogAgeMs(state) / 1000),
    problems: state.problems,
  };
}

export async function readStatus(ctx: ApiContext): Promise<StatusResponse> {
  return statusResponse(await readPipelineState(ctx));
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
            await withinDeadline(f());
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
