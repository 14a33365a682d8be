import os from 'node:os';
import { DEFAULT_KEY_PREFIX, WireFormatError, decodeBatch, isUnreachableError, redisKeys, type RedisKeys } from '@otel-bandwidth/core';
import type { MysqlConnection } from '@otel-bandwidth/storage';
import type { Cluster, Redis } from 'ioredis';
import { updateRealtimeView } from './realtime-writer';
import { RollupWriter, type StreamBatch } from './rollup-writer';
import { StreamConsumer, type StreamEntry } from './stream-consumer';

export type LogLevel = 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

export interface AggregatorOptions {
  /** for commands; the aggregator never closes it */
  redis: Redis | Cluster;
  mysql: MysqlConnection;
  keyPrefix?: string;
  /** consumer group shared by all aggregators. Default "aggregators". */
  group?: string;
  /** this process's name in the group. Default host-pid. */
  consumer?: string;
  /** flush at least this often (ms). Default 5000: at most 12 write transactions a minute. */
  flushIntervalMs?: number;
  /** or as soon as this many entries are buffered. Default 2000. */
  flushMaxEntries?: number;
  /** entries per XREADGROUP. Default 500. */
  readCount?: number;
  /** claim entries other consumers left pending this long (ms). Default 60000. */
  claimIdleMs?: number;
  /** an entry delivered more times than this goes to the dead-letter stream. Default 5. */
  maxDeliveries?: number;
  log?: Logger;
}

export interface AggregatorStats {
  entriesRead: number;
  batchesApplied: number;
  duplicateBatches: number;
  deadLettered: number;
  flushes: number;
  failedFlushes: number;
  entriesBuffered: number;
  lastFlushMs: number | undefined;
  lastError: string | undefined;
}

const defaultLog: Logger = (level, message) => {
  const line = `${new Date().toISOString()} ${level.toUpperCase()} aggregator: ${message}\n`;
  (level === 'info' ? process.stdout : process.stderr).write(line);
};

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Reads the stream in a consumer group and rolls it into MySQL, exactly once: each flush is one
 * transaction with the batch ledger, and entries are acknowledged only after it commits. A crash
 * anywhere re-delivers; the ledger skips what was applied.
 */
export class Aggregator {
  readonly keys: RedisKeys;
  readonly consumer: StreamConsumer;
  private readonly reader: Redis | Cluster;
  private readonly writer: RollupWriter;
  private readonly flushIntervalMs: number;
  private readonly flushMaxEntries: number;
  private readonly readCount: number;
  private readonly claimIdleMs: number;
  private readonly maxDeliveries: number;
  private readonly log: Logger;
  private buffer: StreamBatch[] = [];
  /** ids of entries in the buffer and of entries to ack with it (duplicates of buffered ones) */
  private bufferIds: string[] = [];
  private nextFlushAt = 0;
  private nextClaimAt = 0;
  private running: Promise<void> | undefined;
  private stopping = false;
  private failuresInARow = 0;
  private lastLoggedError = '';
  private readonly counters: Omit<AggregatorStats, 'entriesBuffered' | 'lastFlushMs' | 'lastError'> = {
    entriesRead: 0,
    batchesApplied: 0,
    duplicateBatches: 0,
    deadLettered: 0,
    flushes: 0,
    failedFlushes: 0,
  };
  private lastFlushMs: number | undefined;
  private lastError: string | undefined;

  constructor(private readonly options: AggregatorOptions) {
    this.keys = redisKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX);
    this.flushIntervalMs = options.flushIntervalMs ?? 5000;
    this.flushMaxEntries = options.flushMaxEntries ?? 2000;
    this.readCount = options.readCount ?? 500;
    this.claimIdleMs = options.claimIdleMs ?? 60_000;
    this.maxDeliveries = options.maxDeliveries ?? 5;
    this.log = options.log ?? defaultLog;
    // blocking reads get a connection of their own so they never delay other commands
    this.reader = options.redis.duplicate();
    this.reader.on('error', () => undefined);
    this.consumer = new StreamConsumer(
      options.redis,
      this.reader,
      this.keys,
      options.group ?? 'aggregators',
      options.consumer ?? `${os.hostname()}-${process.pid}`,
    );
    this.writer = new RollupWriter(options.mysql);
  }

  stats(): AggregatorStats {
    return { ...this.counters, entriesBuffered: this.buffer.length, lastFlushMs: this.lastFlushMs, lastError: this.lastError };
  }

  /** Starts the read-flush loop. Resolves once the consumer group exists. */
  async start(): Promise<void> {
    await this.consumer.ensureGroup();
    this.nextFlushAt = Date.now() + this.flushIntervalMs;
    this.nextClaimAt = Date.now() + Math.min(this.claimIdleMs, 5000);
    this.running = this.loop();
  }

  /** Stops reading, flushes what is buffered (if MySQL takes it), and releases the read connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    await this.running;
    if (this.buffer.length > 0 || this.bufferIds.length > 0) {
      try {
        await this.flush();
      } catch (err) {
        this.log('warn', `stopping with ${this.bufferIds.length} entries unflushed; they stay pending in the stream: ${(err as Error).message}`);
      }
    }
    this.reader.disconnect();
  }

  /**
   * Reads and applies everything the stream holds for this consumer right now, then returns.
   * For tests and one-shot runs; the service uses start().
   */
  async drainOnce(): Promise<void> {
    await this.consumer.ensureGroup();
    for (;;) {
      const entries = await this.consumer.read(this.readCount, 1);
      if (entries.length === 0 && !this.consumer.readingOwnPending) break;
      await this.accept(entries, false);
      if (this.bufferIds.length >= this.flushMaxEntries) await this.flush();
    }
    await this.flush();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        if (this.bufferIds.length < this.flushMaxEntries) {
          const wait = Math.max(1, Math.min(1000, this.nextFlushAt - Date.now()));
          const entries = await this.consumer.read(this.readCount, wait);
          await this.accept(entries, this.consumer.readingOwnPending);
        }
        if (Date.now() >= this.nextClaimAt) {
          this.nextClaimAt = Date.now() + Math.max(1000, this.claimIdleMs / 2);
          const claimed = await this.consumer.claimIdle(this.claimIdleMs, this.readCount);
          if (claimed.length > 0) {
            this.log('info', `claimed ${claimed.length} entries left pending by other consumers`);
            await this.accept(claimed, true);
          }
        }
        if (this.bufferIds.length >= this.flushMaxEntries || Date.now() >= this.nextFlushAt) {
          await this.flush();
        }
        this.failuresInARow = 0;
      } catch (err) {
        this.failuresInARow++;
        this.lastError = (err as Error).message;
        this.counters.failedFlushes++;
        const what = isUnreachableError(err) ? 'a backing service does not answer' : 'flush failed';
        const line = `${what}: ${this.lastError}`;
        if (line !== this.lastLoggedError) {
          this.log('warn', `${line} (holding ${this.bufferIds.length} entries; retrying)`);
          this.lastLoggedError = line;
        }
        await sleep(Math.min(10_000, 250 * 2 ** Math.min(this.failuresInARow, 6)));
      }
    }
  }

  /** Decodes entries into the buffer; undecodable or too-often-delivered ones go to the dead-letter stream. */
  private async accept(entries: StreamEntry[], redelivered: boolean): Promise<void> {
    if (entries.length === 0) return;
    this.counters.entriesRead += entries.length;
    const deliveries = redelivered ? await this.consumer.deliveryCounts(entries.map((e) => e.id)) : undefined;
    for (const entry of entries) {
      if (entry.fields === undefined) {
        // deleted from the stream while pending: nothing left to apply
        await this.consumer.ack([entry.id]);
        continue;
      }
      const delivered = deliveries?.get(entry.id) ?? 1;
      if (delivered > this.maxDeliveries) {
        await this.deadLetterEntry(entry, `delivered ${delivered} times without being applied (limit ${this.maxDeliveries})`);
        continue;
      }
      try {
        const batch = decodeBatch(entry.fields);
        this.buffer.push({ streamId: entry.id, batch });
        this.bufferIds.push(entry.id);
      } catch (err) {
        if (!(err instanceof WireFormatError)) throw err;
        await this.deadLetterEntry(entry, err.message);
      }
    }
  }

  private async deadLetterEntry(entry: StreamEntry, reason: string): Promise<void> {
    await this.consumer.deadLetter(entry, reason);
    this.counters.deadLettered++;
    this.log('warn', `entry ${entry.id} moved to ${this.keys.deadLetter}: ${reason}`);
  }

  private async flush(): Promise<void> {
    this.nextFlushAt = Date.now() + this.flushIntervalMs;
    if (this.bufferIds.length === 0) return;
    const result = await this.writer.apply(this.buffer);
    // committed: from here a crash re-delivers, and the ledger skips these batches
    await this.consumer.ack(this.bufferIds);
    this.counters.flushes++;
    this.counters.batchesApplied += result.applied.length;
    this.counters.duplicateBatches += result.duplicates;
    this.buffer = [];
    this.bufferIds = [];
    this.lastFlushMs = Date.now();
    this.lastError = undefined;
    this.lastLoggedError = '';
    await this.afterCommit(result.rollup);
  }

  /** Realtime view, status and trimming: best effort, never undoing the commit. */
  private async afterCommit(rollup: Parameters<typeof updateRealtimeView>[2]): Promise<void> {
    const redis = this.options.redis;
    try {
      await updateRealtimeView(redis, this.keys, rollup);
      await redis.hset(this.keys.aggregatorStatus, {
        lastFlushMs: String(this.lastFlushMs),
        lastFlushBatches: String(rollup.batches),
        consumer: this.consumer.consumer,
      });
      await this.consumer.trimAcknowledged();
    } catch (err) {
      this.log('warn', `after commit: ${(err as Error).message}`);
    }
  }
}
