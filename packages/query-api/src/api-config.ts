import { DEFAULT_MYSQL_URL, EnvReader, type Env } from '@otel-bandwidth/core';
import { parseTokens } from './bearer-tokens';

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
  /** OTEL_BANDWIDTH_API_TOKENS: bearer tokens, any of which opens the API; none, no token asked */
  tokens: string[];
}

export const DEFAULT_API_PORT = 4040;


/** Throws a ConfigError naming every bad variable. */
export function readApiConfig(env: Env = process.env): ApiConfig {
  const r = new EnvReader(env);
  const redis = r.redis();
  const config: ApiConfig = {
    redisUrl: redis.url,
    redisCluster: redis.cluster,
    mysqlUrl: r.url('MYSQL_URL', DEFAULT_MYSQL_URL, ['mysql', 'mariadb']),
    keyPrefix: r.keyPrefix(),
    host: r.string('OTEL_BANDWIDTH_API_HOST', '127.0.0.1'),
    port: r.int('OTEL_BANDWIDTH_API_PORT', DEFAULT_API_PORT, { min: 0, max: 65535 }),
    consumerGroup: r.string('OTEL_BANDWIDTH_CONSUMER_GROUP', 'aggregators'),
    bufferWarning: r.int('OTEL_BANDWIDTH_STATUS_WARNING_ENTRIES', 5000, { min: 1 }),
    tokens: [],
  };
  const tokenList = r.optionalString('OTEL_BANDWIDTH_API_TOKENS');
  if (tokenList !== undefined) {
    const parsed = parseTokens(tokenList);
    if ('problem' in parsed) r.problem(`OTEL_BANDWIDTH_API_TOKENS: ${parsed.problem}`);
    else config.tokens = parsed.tokens;
  }
  r.done();
  return config;
}
