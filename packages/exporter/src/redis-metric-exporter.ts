import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { diag } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationTemporality, type InstrumentType, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { DEFAULT_KEY_PREFIX, DEFAULT_REDIS_URL, encodeBatch, fieldsToArray, redisKeys, type UserUsage } from '@otel-bandwidth/core';
import Redis, { type Cluster } from 'ioredis';
import { countBatchPoints, mergeInto, mergeUsers, type UnsentBatch } from './batch-merge';
import { resourceMetricsToBatch } from './resource-metrics-to-batch';

export interface RedisMetricExporterOptions {
  /** A client to use (Redis or Cluster). The exporter never closes a client it was given. */
  redis?: Redis | Cluster;
  /** Used when no client is given. Default: REDIS_URL, else redis://127.0.0.1:6379. */
  url?: string;
  /** Key prefix; every key is `{prefix}:...`. Default "otel-bandwidth". */
  keyPrefix?: string;
  /** Identifies this process in batch ids. Default: host-pid-random. */
  instanceId?: string;
  /** While the stream holds this many entries or more, data is held and merged locally. Default 100000. */
  maxStreamLength?: number;
  /** How long one attempt to send may take. Default 2000 ms. */
  sendTimeoutMillis?: number;
  /** Backoff between retries while Redis fails: from min, doubling, to max, with jitter. */
  retryMinDelayMillis?: number;
  retryMaxDelayMillis?: number;
  /** Called at each export for the interval's per-user usage (see the instrumentation). */
  collectUserUsage?: () => UserUsage[];
}

export interface ExporterStats {
  /** batches XADDed to the stream */
  batchesExported: number;
  /** data points in those batches */
  pointsExported: number;
  /** attempts to send that failed or were held back by the stream limit */
  retries: number;
  /** data points held in memory, not yet in the stream */
  pointsPending: number;
  /** data points given up (only at shutdown past its deadline) */
  pointsDropped: number;
  /** the last reason a send failed, if the last attempt failed */
  lastError: string | undefined;
}

// XADD unless the stream is at its limit: back-pressure without ever trimming unread data.
const XADD_UNLESS_FULL = `
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
`;

class StreamFullError extends Error {}

function defaultInstanceId(): string {
  return `${os.hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/**
 * An OpenTelemetry PushMetricExporter that XADDs one entry per export to a Redis Stream.
 *
 * Delta temporality for every instrument. Nothing is lost while Redis is down or the stream is
 * full: the unsent data is merged into one pending batch (bounded by the number of series) and
 * retried with backoff. A batch that was sent but not confirmed keeps its id when retried, so the
 * aggregator's ledger applies it once. `export` never throws and never waits on Redis past the
 * send timeout.
 */
export class RedisMetricExporter implements PushMetricExporter {
  readonly streamKey: string;
  readonly instanceId: string;
  private readonly redis: Redis | Cluster;
  private readonly ownsClient: boolean;
  private readonly maxStreamLength: number;
  private readonly sendTimeoutMillis: number;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private readonly collectUserUsage: (() => UserUsage[]) | undefined;

  private sequence = 0;
  /** a batch sent at least once without confirmation: retried as it is, with its id */
  private unconfirmed: { batchId: string; fields: string[]; points: number } | undefined;
  /** data not yet sent, merged across intervals */
  private pending: UnsentBatch | undefined;
  private draining: Promise<boolean> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private failuresInARow = 0;
  private lastWarnMs = 0;
  private isShutdown = false;
  private readonly counters: Omit<ExporterStats, 'pointsPending' | 'lastError'> = {
    batchesExported: 0,
    pointsExported: 0,
    retries: 0,
    pointsDropped: 0,
  };
  private lastError: string | undefined;

  constructor(options: RedisMetricExporterOptions = {}) {
    this.streamKey = redisKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX).stream;
    this.instanceId = options.instanceId ?? defaultInstanceId();
    this.maxStreamLength = options.maxStreamLength ?? 100_000;
    this.sendTimeoutMillis = options.sendTimeoutMillis ?? 2000;
    this.retryMin = options.retryMinDelayMillis ?? 500;
    this.retryMax = options.retryMaxDelayMillis ?? 30_000;
    this.collectUserUsage = options.collectUserUsage;
    if (options.redis) {
      this.redis = options.redis;
      this.ownsClient = false;
    } else {
      this.ownsClient = true;
      const client = new Redis(options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL, {
        lazyConnect: true,
        // reconnecting is ours to do (from unref'd timers), so no ioredis timer keeps the app alive
        retryStrategy: () => null,
        maxRetriesPerRequest: 0,
        connectTimeout: this.sendTimeoutMillis,
        commandTimeout: this.sendTimeoutMillis,
        enableReadyCheck: false,
      });
      client.on('error', () => undefined); // failures are handled (and counted) where commands fail
      client.on('connect', () => client.stream?.unref?.());
      this.redis = client;
    }
  }

  selectAggregationTemporality(_instrumentType: InstrumentType): AggregationTemporality {
    return AggregationTemporality.DELTA;
  }

  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    try {
      if (this.isShutdown) {
        resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
        return;
      }
      const batch = resourceMetricsToBatch(metrics);
      const users = this.collectUserUsage?.() ?? [];
      if (batch) {
        if (users.length > 0) batch.users = users;
        this.hold(batch);
      } else if (users.length > 0 && this.pending) {
        this.pending.users = mergeUsers(this.pending.users ?? [], users);
      }
      this.drain().then(
        () => resultCallback({ code: ExportResultCode.SUCCESS }),
        () => resultCallback({ code: ExportResultCode.SUCCESS }),
      );
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
    }
  }

  /** Sends everything held, if Redis takes it. Resolves true when nothing is left. */
  async forceFlush(): Promise<void> {
    await this.drain();
  }

  async shutdown(): Promise<void> {
    if (this.isShutdown) return;
    await this.drain();
    this.isShutdown = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    const left = this.pointsPending();
    if (left > 0) {
      this.counters.pointsDropped += left;
      diag.warn(`otel-bandwidth exporter: shutting down with ${left} data points not delivered (${this.lastError ?? 'unknown reason'})`);
      this.pending = undefined;
      this.unconfirmed = undefined;
    }
    if (this.ownsClient) this.redis.disconnect();
  }

  stats(): ExporterStats {
    return { ...this.counters, pointsPending: this.pointsPending(), lastError: this.lastError };
  }

  private pointsPending(): number {
    return (this.unconfirmed?.points ?? 0) + (this.pending ? countBatchPoints(this.pending) : 0);
  }

  private hold(batch: UnsentBatch): void {
    if (!this.pending) this.pending = batch;
    else mergeInto(this.pending, batch);
  }

  private drain(): Promise<boolean> {
    if (!this.draining) {
      this.draining = this.sendAll().finally(() => {
        this.draining = undefined;
      });
    }
    return this.draining;
  }

  private async sendAll(): Promise<boolean> {
    for (;;) {
      if (!this.unconfirmed) {
        if (!this.pending) return true;
        const batchId = `${this.instanceId}:${++this.sequence}`;
        const fields = encodeBatch({ ...this.pending, batchId });
        this.unconfirmed = { batchId, fields: fieldsToArray(fields), points: countBatchPoints(this.pending) };
        this.pending = undefined;
      }
      try {
        await this.connectIfNeeded();
        const id = await withTimeout(
          this.redis.eval(XADD_UNLESS_FULL, 1, this.streamKey, String(this.maxStreamLength), ...this.unconfirmed.fields),
          this.sendTimeoutMillis,
          'XADD',
        );
        if (id === null) throw new StreamFullError(`stream ${this.streamKey} holds ${this.maxStreamLength} entries or more; holding data locally`);
        this.counters.batchesExported++;
        this.counters.pointsExported += this.unconfirmed.points;
        this.unconfirmed = undefined;
        this.failuresInARow = 0;
        this.lastError = undefined;
      } catch (err) {
        this.onSendFailure(err);
        return false;
      }
    }
  }

  private async connectIfNeeded(): Promise<void> {
    if (!this.ownsClient) return;
    const r = this.redis as Redis;
    if (r.status === 'wait' || r.status === 'end' || r.status === 'close') {
      await withTimeout(r.connect(), this.sendTimeoutMillis, 'connect');
    }
  }

  private onSendFailure(err: unknown): void {
    this.counters.retries++;
    this.failuresInARow++;
    this.lastError = err instanceof Error ? err.message : String(err);
    const now = Date.now();
    if (now - this.lastWarnMs >= 60_000) {
      this.lastWarnMs = now;
      diag.warn(`otel-bandwidth exporter: could not send to Redis (${this.lastError}); ${this.pointsPending()} data points held, retrying`);
    }
    if (this.isShutdown || this.retryTimer) return;
    const base = Math.min(this.retryMax, this.retryMin * 2 ** Math.min(this.failuresInARow - 1, 16));
    const delay = base / 2 + Math.random() * (base / 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.drain();
    }, delay);
    this.retryTimer.unref();
  }
}
