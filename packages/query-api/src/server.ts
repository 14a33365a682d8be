import { DEFAULT_KEY_PREFIX, isUnreachableError, redisKeys } from '@otel-bandwidth/core';
import type { MysqlConnection } from '@otel-bandwidth/storage';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import type { ApiContext } from './api-context';
import { hourlyRoutes } from './routes/hourly';
import { realtimeRoutes } from './routes/realtime';
import { statusRoutes } from './routes/status';

export interface QueryApiOptions {
  redis: Redis | Cluster;
  mysql: MysqlConnection;
  keyPrefix?: string;
  consumerGroup?: string;
  bufferWarning?: number;
  /** Fastify's logger (pino) options; off by default */
  logger?: boolean;
}

type ValidationErrors = Parameters<NonNullable<FastifyServerOptions['schemaErrorFormatter']>>[0];

/** A request that fails its schema, said per parameter; a value outside a set names the set. */
function validationMessage(errors: ValidationErrors, dataVar: string): Error {
  const parts = errors.map((e) => {
    const where = `${dataVar}${e.instancePath}`;
    const allowed = (e.params as { allowedValues?: unknown[] }).allowedValues;
    if (e.keyword === 'enum' && Array.isArray(allowed)) return `${where} must be one of ${allowed.join(', ')}`;
    return `${where} ${e.message ?? 'is not valid'}`;
  });
  return new Error(parts.join(', '));
}

/** The query API as a Fastify instance, not yet listening. */
export function buildQueryApi(options: QueryApiOptions): FastifyInstance {
  const ctx: ApiContext = {
    redis: options.redis,
    mysql: options.mysql,
    keys: redisKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX),
    consumerGroup: options.consumerGroup ?? 'aggregators',
    bufferWarning: options.bufferWarning ?? 5000,
  };
  const app = Fastify({ logger: options.logger ?? false, schemaErrorFormatter: validationMessage }).withTypeProvider<TypeBoxTypeProvider>();
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    if (err.validation) {
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: err.message });
    }
    if (isUnreachableError(err)) {
      return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: `a backing store does not answer: ${err.message}` });
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status < 500) return reply.code(status).send({ statusCode: status, error: 'Error', message: err.message });
    // the error's text (a failed query's SQL, say) goes to the API's log, not to its callers
    if (options.logger) app.log.error(err);
    else process.stderr.write(`otel-bandwidth api: ${req.method} ${req.url}: ${err.stack ?? err.message}\n`);
    return reply.code(status).send({ statusCode: status, error: 'Internal Server Error', message: 'internal error; the API logged it' });
  });
  app.register(realtimeRoutes(ctx));
  app.register(hourlyRoutes(ctx));
  app.register(statusRoutes(ctx));
  return app;
}
