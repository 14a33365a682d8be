import { DEFAULT_KEY_PREFIX, DEFAULT_MYSQL_URL, DEFAULT_REDIS_URL, EnvReader, redactUrl, type Env } from '@otel-bandwidth/core';

export interface ApiConfig {
  /** one redis:// URL, or with redisCluster the Cluster's seed nodes, comma-separated */
  redisUrl: string;
  /** OTEL_BANDWIDTH_REDIS_CLUSTER: REDIS_URL names Redis Cluster nodes */
  redisCluster: boolean;
  mysqlUrl: string;
  keyPrefix: string;
  host: string;
  port: number;
  consumerGroup: string;
  bufferWarning: number;
}

export const DEFAULT_API_PORT = 4040;

/**
 * REDIS_URL: a redis:// or rediss:// URL or, with OTEL_BANDWIDTH_REDIS_CLUSTER=true, the seed
 * nodes of a Redis Cluster, comma-separated (later ones may be bare host:port).
 */
function readRedisUrl(r: EnvReader, cluster: boolean): string {
  const value = r.optionalString('REDIS_URL');
  if (!cluster) {
    if (value?.includes(',')) {
      r.problem('REDIS_URL lists several nodes; set OTEL_BANDWIDTH_REDIS_CLUSTER=true if they are a Redis Cluster');
      return DEFAULT_REDIS_URL;
    }
    return r.url('REDIS_URL', DEFAULT_REDIS_URL, ['redis', 'rediss']);
  }
  const seeds = value ?? DEFAULT_REDIS_URL;
  const items = seeds.split(',').map((s) => s.trim());
  for (const item of items) {
    let ok = false;
    try {
      const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `redis://${item}`);
      ok = (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '';
    } catch {
      ok = false;
    }
    if (!ok) {
      r.problem(`REDIS_URL="${items.map((s) => redactUrl(s)).join(',')}": "${redactUrl(item)}" is not a Redis Cluster node (expected redis://host:port or host:port)`);
      return DEFAULT_REDIS_URL;
    }
  }
  return seeds;
}

/** Throws a ConfigError naming every bad variable. */
export function readApiConfig(env: Env = process.env): ApiConfig {
  const r = new EnvReader(env);
  const redisCluster = r.bool('OTEL_BANDWIDTH_REDIS_CLUSTER', false);
  const config: ApiConfig = {
    redisUrl: readRedisUrl(r, redisCluster),
    redisCluster,
    mysqlUrl: r.url('MYSQL_URL', DEFAULT_MYSQL_URL, ['mysql', 'mariadb']),
    keyPrefix: r.string('OTEL_BANDWIDTH_KEY_PREFIX', DEFAULT_KEY_PREFIX),
    host: r.string('OTEL_BANDWIDTH_API_HOST', '127.0.0.1'),
    port: r.int('OTEL_BANDWIDTH_API_PORT', DEFAULT_API_PORT, { min: 0, max: 65535 }),
    consumerGroup: r.string('OTEL_BANDWIDTH_CONSUMER_GROUP', 'aggregators'),
    bufferWarning: r.int('OTEL_BANDWIDTH_STATUS_WARNING_ENTRIES', 5000, { min: 1 }),
  };
  r.done();
  return config;
}
