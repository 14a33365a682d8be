import { ServiceUnreachableError, isUnreachableError } from '@otel-bandwidth/core';
import { connectMysql, pingMysql, type MysqlConnection } from '@otel-bandwidth/storage';
import Redis from 'ioredis';

/** A connected Redis client, or a ServiceUnreachableError that says where and how to start Redis. */
export async function connectRedis(url: string): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 2,
    retryStrategy: (times) => Math.min(times * 200, 2000),
  });
  let lastError: unknown;
  redis.on('error', (err) => {
    lastError = err;
  });
  try {
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (err) {
    redis.disconnect();
    const cause = lastError ?? err;
    if (isUnreachableError(cause) || isUnreachableError(err)) throw new ServiceUnreachableError('Redis', url, cause);
    throw err;
  }
}

/** A MySQL pool that answered, or a ServiceUnreachableError. */
export async function connectCheckedMysql(url: string): Promise<MysqlConnection> {
  const mysql = connectMysql(url);
  try {
    await pingMysql(mysql);
    return mysql;
  } catch (err) {
    await mysql.close().catch(() => undefined);
    throw err;
  }
}
