import fs from 'node:fs';
import { createSecureContext } from 'node:tls';
import { DEFAULT_MYSQL_URL, EnvReader, type Env } from '@otel-bandwidth/core';
import { parseTokens } from './bearer-tokens';

/** A certificate chain and its private key, PEM, as the API serves HTTPS with them. */
export interface ApiTls {
  cert: Buffer;
  key: Buffer;
}

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
  /** OTEL_BANDWIDTH_API_TLS_CERT and _KEY: HTTPS with this certificate; none, plain HTTP */
  tls: ApiTls | undefined;
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
    tls: undefined,
  };
  const tokenList = r.optionalString('OTEL_BANDWIDTH_API_TOKENS');
  if (tokenList !== undefined) {
    const parsed = parseTokens(tokenList);
    if ('problem' in parsed) r.problem(`OTEL_BANDWIDTH_API_TOKENS: ${parsed.problem}`);
    else config.tokens = parsed.tokens;
  }
  config.tls = readTls(r);
  r.done();
  return config;
}

/** The certificate and key files named, read and checked to be a pair; a problem for each that is not. */
function readTls(r: EnvReader): ApiTls | undefined {
  const certFile = r.optionalString('OTEL_BANDWIDTH_API_TLS_CERT');
  const keyFile = r.optionalString('OTEL_BANDWIDTH_API_TLS_KEY');
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) {
    r.problem(`OTEL_BANDWIDTH_API_TLS_CERT and OTEL_BANDWIDTH_API_TLS_KEY go together: ${certFile === undefined ? 'the certificate' : 'the key'} is missing`);
    return undefined;
  }
  const read = (name: string, file: string): Buffer | undefined => {
    try {
      return fs.readFileSync(file);
    } catch (err) {
      r.problem(`${name}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      return undefined;
    }
  };
  const cert = read('OTEL_BANDWIDTH_API_TLS_CERT', certFile);
  const key = read('OTEL_BANDWIDTH_API_TLS_KEY', keyFile);
  if (cert === undefined || key === undefined) return undefined;
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    r.problem(`OTEL_BANDWIDTH_API_TLS_CERT and OTEL_BANDWIDTH_API_TLS_KEY (${certFile}, ${keyFile}) are not a PEM certificate and its key: ${(err as Error).message}`);
    return undefined;
  }
  return { cert, key };
}
