import { DEFAULT_KEY_PREFIX, DEFAULT_REDIS_URL, EnvReader, redactUrl, type Env } from '@otel-bandwidth/core';
import { parseRedisSeeds } from '@otel-bandwidth/exporter';

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
  maxUsersPerInterval: number;
  maxStreamLength: number;
  retryMaxDelayMillis: number;
  shutdownTimeoutMillis: number;
}

/** REDIS_URL: a URL, or with OTEL_BANDWIDTH_REDIS_CLUSTER=true the Cluster's seed nodes. */
function readRedisUrl(r: EnvReader, cluster: boolean): string {
  const value = r.optionalString('REDIS_URL');
  if (!cluster) {
    if (value?.includes(',')) {
      r.problem(`REDIS_URL lists several nodes; set OTEL_BANDWIDTH_REDIS_CLUSTER=true if they are a Redis Cluster`);
      return DEFAULT_REDIS_URL;
    }
    return r.url('REDIS_URL', DEFAULT_REDIS_URL, ['redis', 'rediss']);
  }
  const seeds = value ?? DEFAULT_REDIS_URL;
  try {
    parseRedisSeeds(seeds);
  } catch (err) {
    r.problem(`REDIS_URL="${seeds.split(',').map((s) => redactUrl(s.trim())).join(',')}" is not a list of Redis Cluster nodes: ${(err as Error).message}`);
    return DEFAULT_REDIS_URL;
  }
  return seeds;
}

/** Throws a ConfigError naming every bad variable. */
export function readPreloadConfig(env: Env = process.env): PreloadConfig {
  const r = new EnvReader(env);
  const redisCluster = r.bool('OTEL_BANDWIDTH_REDIS_CLUSTER', false);
  const config: PreloadConfig = {
    enabled: r.bool('OTEL_BANDWIDTH_ENABLED', true) && !r.bool('OTEL_SDK_DISABLED', false),
    serviceName: r.optionalString('OTEL_SERVICE_NAME'),
    redisUrl: readRedisUrl(r, redisCluster),
    redisCluster,
    keyPrefix: r.string('OTEL_BANDWIDTH_KEY_PREFIX', DEFAULT_KEY_PREFIX),
    exportIntervalMillis: r.int('OTEL_METRIC_EXPORT_INTERVAL', 5000, { min: 100, max: 3_600_000 }),
    exportTimeoutMillis: r.int('OTEL_METRIC_EXPORT_TIMEOUT', 30_000, { min: 100, max: 3_600_000 }),
    cardinalityLimit: r.int('OTEL_BANDWIDTH_CARDINALITY_LIMIT', 2000, { min: 1, max: 1_000_000 }),
    userIdHeader: r.optionalString('OTEL_BANDWIDTH_USER_HEADER'),
    maxUsersPerInterval: r.int('OTEL_BANDWIDTH_MAX_USERS_PER_INTERVAL', 10_000, { min: 0, max: 10_000_000 }),
    maxStreamLength: r.int('OTEL_BANDWIDTH_STREAM_MAX_LENGTH', 100_000, { min: 1 }),
    retryMaxDelayMillis: r.int('OTEL_BANDWIDTH_RETRY_MAX_DELAY', 30_000, { min: 100, max: 3_600_000 }),
    shutdownTimeoutMillis: r.int('OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT', 5000, { min: 0, max: 600_000 }),
  };
  if (/[{}]/.test(config.keyPrefix)) r.problem(`OTEL_BANDWIDTH_KEY_PREFIX="${config.keyPrefix}" must not contain { or }`);
  r.done();
  return config;
}
