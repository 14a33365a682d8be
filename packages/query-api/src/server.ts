import { DEFAULT_KEY_PREFIX, causeChain, innermostCause, isUnreachableError, redactUrl, redisKeys } from '@otel-bandwidth/core';
import type { MysqlConnection } from '@otel-bandwidth/storage';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import type { Cluster, Redis } from 'ioredis';
import type { ApiTls } from './api-config';
import type { ApiContext } from './api-context';
import { BearerTokens } from './bearer-tokens';
import { alertsRoutes } from './routes/alerts';
import { dailyRoutes } from './routes/daily';
import { dashboardRoutes } from './routes/dashboard';
import { endpointsRoutes } from './routes/endpoints';
import { hourlyRoutes } from './routes/hourly';
import { hoursRoutes } from './routes/hours';
import { minutesRoutes } from './routes/minutes';
import { prometheusMetricsRoutes } from './routes/prometheus-metrics';
import { registerOpenApi } from './routes/openapi';
import { realtimeRoutes } from './routes/realtime';
import { statusRoutes } from './routes/status';
import { usersRoutes } from './routes/users';

export interface QueryApiOptions {
  redis: Redis | Cluster;
  mysql: MysqlConnection;
  keyPrefix?: string;
  consumerGroup?: string;
  bufferWarning?: number;
  /** Fastify's logger (pino) options; off by default */
  logger?: boolean;
  /** with any, every route but /healthz and the dashboard's files wants `Authorization: Bearer <one of them>` */
  tokens?: readonly string[];
  /** serve HTTPS (HTTP/1.1 over TLS) with this certificate chain and key, PEM; plain HTTP without */
  tls?: ApiTls;
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

/**
 * Which store an unreachable-store error came from: mysql2 marks its errors (sqlState from the
 * server, fatal on a connection's loss), drizzle wraps them in a DrizzleQueryError; a socket error
 * of ioredis carries neither.
 */
function storeOf(err: unknown): 'Redis' | 'MySQL' {
  const mysql = causeChain(err).some((e) => typeof e.sqlState === 'string' || e.fatal === true || e.name === 'DrizzleQueryError');
  return mysql ? 'MySQL' : 'Redis';
}

/** A 503's message: which store, where, and why (the innermost reason). */
function unreachableMessage(err: Error, ctx: ApiContext): string {
  // drizzle's error (its message the query) wraps the driver's: the innermost cause says why
  const e = innermostCause(err) ?? {};
  const why = typeof e.code === 'string' ? e.code : typeof e.message === 'string' ? e.message.split('\n')[0] : String(e);
  const store = storeOf(err);
  const where = store === 'MySQL' ? redactUrl(ctx.mysql.url) : redisAddress(ctx.redis);
  return `${store}${where ? ` at ${where}` : ''} does not answer (${why}); GET /healthz says which stores are down`;
}

/** host:port of a single Redis client (a Cluster has many: none is named). */
function redisAddress(redis: Redis | Cluster): string {
  const o = (redis as { options?: { host?: unknown; port?: unknown } }).options;
  return typeof o?.host === 'string' && typeof o.port === 'number' ? `${o.host}:${o.port}` : '';
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
  const serverOptions = { logger: options.logger ?? false, schemaErrorFormatter: validationMessage };
  // Over TLS, Fastify types the instance with https.Server; its requests and replies are the same
  // node:http ones as without, so the routes below serve either way (HTTP/1.1 both)
  const app = (
    options.tls === undefined ? Fastify(serverOptions) : (Fastify({ ...serverOptions, https: options.tls }) as unknown as FastifyInstance)
  ).withTypeProvider<TypeBoxTypeProvider>();
  /** an error its caller is not told the text of (a failed query's SQL, say): to the API's log */
  const logError = (what: string, err: unknown): void => {
    if (options.logger) app.log.error({ err }, what);
    else process.stderr.write(`otel-bandwidth api: ${what}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  };
  app.setErrorHandler((err: Error & { statusCode?: number; validation?: unknown }, req, reply) => {
    if (err.validation) {
      return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: err.message });
    }
    if (isUnreachableError(err)) {
      return reply.code(503).send({ statusCode: 503, error: 'Service Unavailable', message: unreachableMessage(err, ctx) });
    }
    const status = err.statusCode && err.statusCode >= 400 ? err.statusCode : 500;
    if (status < 500) return reply.code(status).send({ statusCode: status, error: 'Error', message: err.message });
    // the error's text (a failed query's SQL, say) goes to the API's log, not to its callers
    logError(`${req.method} ${req.url}`, err);
    return reply.code(status).send({ statusCode: status, error: 'Internal Server Error', message: 'internal error; the API logged it' });
  });
  if (options.tokens !== undefined && options.tokens.length > 0) {
    const tokens = new BearerTokens(options.tokens);
    app.addHook('onRequest', async (req, reply) => {
      if (tokens.allows(req.url.split('?')[0] as string, req.headers.authorization)) return undefined;
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="otel-bandwidth"')
        .send({ statusCode: 401, error: 'Unauthorized', message: 'this API wants Authorization: Bearer <token> (one of OTEL_BANDWIDTH_API_TOKENS)' });
    });
  }
  // a parameter given twice arrives as an array, which its schema would call "not an integer"
  app.addHook('preValidation', async (req, reply) => {
    const query = req.query as Record<string, unknown> | undefined;
    for (const [name, value] of Object.entries(query ?? {})) {
      if (Array.isArray(value)) {
        return reply.code(400).send({ statusCode: 400, error: 'Bad Request', message: `querystring/${name} is given ${value.length} times; give it once` });
      }
    }
    return undefined;
  });
  registerOpenApi(app);
  app.register(realtimeRoutes(ctx));
  app.register(hourlyRoutes(ctx));
  app.register(hoursRoutes(ctx));
  app.register(dailyRoutes(ctx));
  app.register(minutesRoutes(ctx));
  app.register(endpointsRoutes(ctx));
  app.register(usersRoutes(ctx));
  app.register(alertsRoutes(ctx));
  app.register(statusRoutes(ctx));
  app.register(prometheusMetricsRoutes(ctx, (what, err) => logError(`GET /metrics: ${what}`, err)));
  app.register(dashboardRoutes());
  return app;
}
