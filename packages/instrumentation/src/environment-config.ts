import { EnvReader, type Env } from '@otel-bandwidth/core';

/** What the preload reads from the environment. */
export interface PreloadConfig {
  enabled: boolean;
  serviceName: string | undefined;
  /** one redis:// URL, or with redisCluster the Cluster's seed nodes, comma-separated */
  redisUrl: string;
  redisCluster: boolean;
  keyPrefix: string;
  exportIntervalMillis: number;
  exportTimeoutMillis: number;
  cardinalityLimit: number;
  userIdHeader: string | undefined;
  routeFromContext: boolean;
  /** export from a worker thread of the preload's own instead of the app's thread */
  exportWorker: boolean;
  maxUsersPerInterval: number;
  maxStreamLength: number;
  retryMaxDelayMillis: number;
  shutdownTimeoutMillis: number;
}

/** REDIS_URL: a URL, or with OTEL_BANDWIDTH_REDIS_CLUSTER=true the Cluster's seed nodes. */

/** Throws a ConfigError naming every bad variable. */
export function readPreloadConfig(env: Env = process.env): PreloadConfig {
  const r = new EnvReader(env);
  const redis = r.redis();
  const config: PreloadConfig = {
    enabled: r.bool('OTEL_BANDWIDTH_ENABLED', true) && !r.bool('OTEL_SDK_DISABLED', false),
    serviceName: r.optionalString('OTEL_SERVICE_NAME'),
    redisUrl: redis.url,
    redisCluster: redis.cluster,
    keyPrefix: r.keyPrefix(),
    exportIntervalMillis: r.int('OTEL_METRIC_EXPORT_INTERVAL', 5000, { min: 100, max: 3_600_000 }),
    exportTimeoutMillis: r.int('OTEL_METRIC_EXPORT_TIMEOUT', 30_000, { min: 100, max: 3_600_000 }),
    cardinalityLimit: r.int('OTEL_BANDWIDTH_CARDINALITY_LIMIT', 2000, { min: 1, max: 1_000_000 }),
    userIdHeader: r.optionalString('OTEL_BANDWIDTH_USER_HEADER'),
    routeFromContext: r.bool('OTEL_BANDWIDTH_ROUTE_FROM_CONTEXT', false),
    exportWorker: r.bool('OTEL_BANDWIDTH_EXPORT_WORKER', true),
    maxUsersPerInterval: r.int('OTEL_BANDWIDTH_MAX_USERS_PER_INTERVAL', 10_000, { min: 0, max: 10_000_000 }),
    maxStreamLength: r.int('OTEL_BANDWIDTH_STREAM_MAX_LENGTH', 100_000, { min: 1 }),
    retryMaxDelayMillis: r.int('OTEL_BANDWIDTH_RETRY_MAX_DELAY', 30_000, { min: 100, max: 3_600_000 }),
    shutdownTimeoutMillis: r.int('OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT', 5000, { min: 0, max: 600_000 }),
  };
  r.done();
  return config;
}
