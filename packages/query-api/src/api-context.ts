import type { RedisKeys } from '@otel-bandwidth/core';
import type { MysqlConnection } from '@otel-bandwidth/storage';
import type { Cluster, Redis } from 'ioredis';

/** What the routes read from. */
export interface ApiContext {
  redis: Redis | Cluster;
  mysql: MysqlConnection;
  keys: RedisKeys;
  consumerGroup: string;
  /** /metrics/status says "warning" from this many unapplied entries on */
  bufferWarning: number;
}
