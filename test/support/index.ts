/**
 * Test support: each test file gets its own MariaDB database and its own Redis key prefix, so
 * files run in parallel against the real servers.
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_REDIS_URL, redisKeys, type RedisKeys } from '@otel-bandwidth/core';
import { connectMysql, dropDatabase, migrate, type MysqlConnection } from '@otel-bandwidth/storage';
import Redis from 'ioredis';

export const REDIS_URL = process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
export const MYSQL_SERVER_URL = process.env.MYSQL_TEST_SERVER_URL ?? 'mysql://root@127.0.0.1:3306';

function slug(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 30);
}

export interface TestDatabase {
  url: string;
  conn: MysqlConnection;
  /** closes the pool and drops the database */
  drop(): Promise<void>;
}

/** A fresh, migrated database for one test file. */
export async function createTestDatabase(name: string): Promise<TestDatabase> {
  const url = `${MYSQL_SERVER_URL}/obw_test_${slug(name)}_${randomBytes(3).toString('hex')}`;
  await migrate(url);
  const conn = connectMysql(url);
  return {
    url,
    conn,
    drop: async () => {
      await conn.close();
      await dropDatabase(url);
    },
  };
}

export interface TestRedis {
  redis: Redis;
  prefix: string;
  keys: RedisKeys;
  /** deletes the prefix's keys and disconnects */
  cleanup(): Promise<void>;
}

/** A Redis client and a key prefix no other test file uses. */
export async function createTestRedis(name: string): Promise<TestRedis> {
  const prefix = `obw-test-${slug(name)}-${randomBytes(3).toString('hex')}`;
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await redis.connect();
  const keys = redisKeys(prefix);
  return {
    redis,
    prefix,
    keys,
    cleanup: async () => {
      const found: string[] = [];
      // the prefix's keys, and those of prefixes a test derived from it (`${prefix}-a`, ...)
      for (const pattern of [`{${prefix}}:*`, `{${prefix}-*`]) {
        let cursor = '0';
        do {
          const [next, batch] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
          cursor = next;
          found.push(...batch);
        } while (cursor !== '0');
      }
      if (found.length > 0) await redis.del(...found);
      redis.disconnect();
    },
  };
}

export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export * from './instrumented-process';
export * from './raw-http';
export * from './silent-servers';
export * from './promtool';
export * from './webhook-receiver';
export * from './metric-batches';
export * from './tcp-proxy';
export * from './certificates';
