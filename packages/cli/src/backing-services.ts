import { ServiceUnreachableError, isUnreachableError, redactUrl } from '@otel-bandwidth/core';
import { checkMysqlSchema, connectMysql, pingMysql, type MysqlConnection } from '@otel-bandwidth/storage';
import Redis, { Cluster, type ClusterNode } from 'ioredis';

export interface ConnectRedisOptions {
  /** `url` names Redis Cluster nodes, comma-separated (OTEL_BANDWIDTH_REDIS_CLUSTER=true) */
  cluster?: boolean;
  /**
   * A command without a reply in this long fails (ioredis' commandTimeout). For a client that
   * answers people (the API): a frozen Redis then gets a 503, not a request that hangs. Not for
   * the aggregator, whose blocking reads wait on purpose.
   */
  commandTimeoutMs?: number;
}

/**
 * The seed nodes of a Cluster from `redis://[user:password@]host:port,host:port,...`: scheme and
 * credentials come from the first entry; later ones may be bare host:port.
 */
export function clusterSeeds(url: string): { nodes: ClusterNode[]; username?: string; password?: string; tls: boolean } {
  const nodes: ClusterNode[] = [];
  let first: URL | undefined;
  for (const item of url.split(',').map((s) => s.trim()).filter((s) => s !== '')) {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `redis://${item}`);
    first ??= u;
    nodes.push({ host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: u.port ? Number(u.port) : 6379 });
  }
  if (!first) throw new Error('no Redis Cluster node given');
  return {
    nodes,
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    tls: first.protocol === 'rediss:',
  };
}

/** A connected Redis client, or a ServiceUnreachableError that says where and how to start Redis. */
export async function connectRedis(url: string): Promise<Redis>;
/** With `cluster`, a connected ioredis Cluster client instead. */
export async function connectRedis(url: string, options: ConnectRedisOptions): Promise<Redis | Cluster>;
export async function connectRedis(url: string, options: ConnectRedisOptions = {}): Promise<Redis | Cluster> {
  let redis: Redis | Cluster;
  if (options.cluster) {
    const seeds = clusterSeeds(url);
    redis = new Cluster(seeds.nodes, {
      lazyConnect: true,
      clusterRetryStrategy: (times) => Math.min(times * 200, 2000),
      // a Cluster that is not ready parks commands in a queue of its own, where no commandTimeout
      // runs: with one asked for, they fail at once instead
      ...(options.commandTimeoutMs ? { enableOfflineQueue: false } : {}),
      redisOptions: {
        connectTimeout: 3000,
        maxRetriesPerRequest: 2,
        ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
        ...(seeds.username ? { username: seeds.username } : {}),
        ...(seeds.password ? { password: seeds.password } : {}),
        ...(seeds.tls ? { tls: {} } : {}),
      },
    });
  } else {
    redis = new Redis(url, {
      lazyConnect: true,
      connectTimeout: 3000,
      maxRetriesPerRequest: 2,
      ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
  }
  let lastError: unknown;
  redis.on('error', (err: unknown) => {
    lastError = err;
  });
  try {
    if (options.cluster) {
      // a Cluster retries its seeds for ever: give up on them after a while, as a client would
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        redis.connect(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(lastError ?? new Error('connect ETIMEDOUT (Redis Cluster)')), 10_000);
        }),
      ]).finally(() => clearTimeout(timer));
    } else {
      await redis.connect();
    }
    await redis.ping();
    return redis;
  } catch (err) {
    redis.disconnect();
    const cause = lastError ?? err;
    const where = url
      .split(',')
      .map((s) => redactUrl(s.trim()))
      .join(',');
    if (isUnreachableError(cause) || isUnreachableError(err)) throw new ServiceUnreachableError('Redis', where, cause);
    throw err;
  }
}

/** A MySQL pool that answered, on a database with this version's tables; or a clear error. */
export async function connectCheckedMysql(url: string): Promise<MysqlConnection> {
  const mysql = connectMysql(url);
  try {
    await pingMysql(mysql);
    await checkMysqlSchema(mysql);
    return mysql;
  } catch (err) {
    await mysql.close().catch(() => undefined);
    throw err;
  }
}
