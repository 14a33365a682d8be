import os from 'node:os';
import { DEFAULT_KEY_PREFIX, WireFormatError, decodeBatch, innermostCause, isUnreachableError, redisKeys, type MetricBatch, type RedisKeys } from '@otel-bandwidth/core';
import { isMysqlDataError, metricsBatchLedger, type MysqlConnection } from '@otel-bandwidth/storage';
import { inArray } from 'drizzle-orm';
import type { Cluster, Redis } from 'ioredis';
import { BatchRollup } from './batch-rollup';
import { updateRealtimeView } from './realtime-writer';
import {
  DEFAULT_LEDGER_RETENTION_DAYS,
  DEFAULT_RETENTION_CHUNK_ROWS,
  DEFAULT_RETENTION_DAYS,
  DEFAULT_RETENTION_INTERVAL_MS,
  applyRetention,
  hourlyRetentionCutoff,
  type RetentionResult,
} from './retention';
import { RollupWriter, ledgerEntryOf, type LedgerEntry, type MergedFlushResult, type RebuiltRollup } from './rollup-writer';
import { StreamConsumer, type StreamEntry } from './stream-consumer';

export type LogLevel = 'info' | 'warn' | 'error';
export type Logger = (level: LogLevel, message: string) => void;

/**
 * Points in the aggregator's work where a test can stop it (fault injection: a hook that never
 * resolves holds the aggregator there until the test kills the process).
 */
export interface AggregatorHooks {
  /** inside a flush's transaction, after every write, before COMMIT */
  beforeCommit?: (flush: FlushInfo) => void | Promise<void>;
  /** after a flush committed, before its entries are acknowledged */
  beforeAck?: (flush: FlushInfo) => void | Promise<void>;
  /** after entries were read and buffered, before they are flushed */
  afterRead?: (held: HeldEntries) => void | Promise<void>;
}

/** The entries an aggregator holds, as the hooks see them. */
export interface HeldEntries {
  /** read and merged, waiting for the next flush */
  buffered: number;
  /** in a flush that is running, or that failed and will run again */
  flushing: number;
}

/** A flush, as the hooks see it. */
export interface FlushInfo {
  /** stream entries the flush acknowledges */
  entries: number;
  /** distinct batches among them the flush offers to the ledger */
  batches: number;
}

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
  /**
   * or as soon as this many entries are held. Default 2000. Entries are merged as they are read,
   * so memory grows with the number of series, not of entries.
   */
  flushMaxEntries?: number;
  /** entries per XREADGROUP at most (fewer when entries are large). Default 500. */
  readCount?: number;
  /** claim entries other consumers left pending this long (ms). Default 60000. */
  claimIdleMs?: number;
  /** an entry delivered more times than this goes to the dead-letter stream. Default 5. */
  maxDeliveries?: number;
  /** a flush still waiting (on MySQL, or Redis) after this long is said in the log, and again each time as long; 0: never. Default 30000 ms. */
  slowFlushWarningMs?: number;
  /** days of hourly rows kept before today's (UTC); 0 keeps them for ever. Default 90. */
  retentionDays?: number;
  /** days an applied batch id stays in the ledger; 0 keeps them for ever. Default 7. */
  ledgerRetentionDays?: number;
  /** ms between retention runs (the first runs at start). Default 300000. */
  retentionIntervalMs?: number;
  /** rows per retention DELETE. Default 5000. */
  retentionChunkRows?: number;
  /** fault injection for tests */
  hooks?: AggregatorHooks;
  log?: Logger;
}

export interface AggregatorStats {
  entriesRead: number;
  batchesApplied: number;
  duplicateBatches: number;
  deadLettered: number;
  /** points of applied batches left out because the columns cannot hold their values (see the log) */
  pointsRefused: number;
  /** points of applied batches of metrics that are not stored (other metric names, cumulative data) */
  pointsIgnored: number;
  flushes: number;
  failedFlushes: number;
  /** hourly rows and ledger ids deleted by retention */
  rowsExpired: number;
  entriesBuffered: number;
  lastFlushMs: number | undefined;
  lastError: string | undefined;
}

const defaultLog: Logger = (level, message) => {
  const line = `${new Date().toISOString()} ${level.toUpperCase()} aggregator: ${message}\n`;
  (level === 'info' ? process.stdout : process.stderr).write(line);
};


/**
 * Why a flush failed, in one line: the innermost cause's message (drizzle wraps the driver's error
 * in one whose message is the failed query's SQL and parameters, routes and user ids included),
 * with MySQL's error code where there is one.
 */
function reasonOf(err: unknown): string {
  const e = innermostCause(err);
  const message = typeof e?.message === 'string' ? (e.message.split('\n')[0] as string) : String(err);
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${message} (${e.code})` : message;
}

/** Data from before this is not from a running service's clock. */
const EARLIEST_DATA_MS = Date.UTC(2000, 0, 1);
/** How far ahead of this aggregator's clock a sender's clock may run. */
const MAX_CLOCK_AHEAD_MS = 24 * 3_600_000;

/** Why a batch's or one of its points' times cannot be stored as data time, or undefined when they can. */
function timeOutOfRange(batch: MetricBatch, nowMs: number): string | undefined {
  const latest = nowMs + MAX_CLOCK_AHEAD_MS;
  const bad = (t: number): boolean => !(t >= EARLIEST_DATA_MS && t <= latest);
  const say = (what: string, t: number): string =>
    `${what} time ${t} ms is outside 2000-01-01 to a day past this aggregator's clock (${new Date(latest).toISOString()})`;
  if (bad(batch.startTimeMs)) return say('the batch start', batch.startTimeMs);
  if (bad(batch.endTimeMs)) return say('the batch end', batch.endTimeMs);
  for (const m of batch.metrics) {
    for (const p of m.points) {
      if (bad(p.startTimeMs)) return say(`a ${m.name} point's start`, p.startTimeMs);
      if (bad(p.endTimeMs)) return say(`a ${m.name} point's end`, p.endTimeMs);
    }
  }
  return undefined;
}

/** a read brings about this many bytes at most (fewer entries when they are large) */
const READ_TARGET_BYTES = 8 * 1024 * 1024;
/** decoding yields to other callbacks this often (ms), so a running flush is not held up */
const YIELD_AFTER_MS = 15;

/**
 * What the aggregator holds between two flushes: the merged totals of the batches read, the
 * ledger rows they will write, and the ids of every stream entry to acknowledge after the commit.
 */
class FlushBuffer {
  readonly rollup = new BatchRollup();
  readonly entries: LedgerEntry[] = [];
  /** entries whose batch is in the buffer already or known to be applied: acknowledged with the flush */
  readonly duplicates: string[] = [];
  private readonly batchIds = new Set<string>();
  readonly streamIds = new Set<string>();
  /** MySQL refused the merged totals: the batches are applied one transaction each */
  oneAtATime = false;
  /**
   * Applied one at a time so far (kept across a failure part-way): the totals of those applied,
   * for the realtime view once all are done; how many MySQL took (or had); those it refused
   */
  alone: { applied: BatchRollup; accepted: number; refused: Array<{ ledger: LedgerEntry; entry: StreamEntry; reason: string }> } | undefined;

  get size(): number {
    return this.streamIds.size;
  }

  holds(streamId: string): boolean {
    return this.streamIds.has(streamId);
  }

  add(streamId: string, batch: MetricBatch): void {
    this.streamIds.add(streamId);
    if (this.batchIds.has(batch.batchId)) {
      this.duplicates.push(streamId);
      return;
    }
    this.batchIds.add(batch.batchId);
    this.entries.push(ledgerEntryOf({ streamId, batch }));
    this.rollup.add(batch);
  }

  addDuplicate(streamId: string): void {
    this.streamIds.add(streamId);
    this.duplicates.push(streamId);
  }
}

/**
 * Reads the stream in a consumer group and rolls it into MySQL, exactly once: each flush is one
 * transaction with the batch ledger, and entries are acknowledged only after it commits. A crash
 * anywhere re-delivers; the ledger skips what was applied.
 *
 * Batches are merged into the flush's totals as they are read, so the transaction only writes.
 * While entries wait for their flush, the aggregator keeps resetting their idle time, so other
 * aggregators claim them only when this one stops doing so (it died or hangs).
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
  private readonly retentionDays: number;
  private readonly ledgerRetentionDays: number;
  private readonly retentionIntervalMs: number;
  private readonly retentionChunkRows: number;
  private readonly hooks: AggregatorHooks;
  private readonly log: Logger;
  /** the buffer being filled */
  private buffer = new FlushBuffer();
  /** the buffer whose flush is running (the loop goes on reading meanwhile) */
  private flushing: { buffer: FlushBuffer; done: Promise<void> } | undefined;
  /** a buffer whose flush failed: flushed again before any other */
  private unflushed: FlushBuffer | undefined;
  private flushError: unknown;
  /** the flush in its transaction, for the hooks */
  private committing: FlushInfo = { entries: 0, batches: 0 };
  private nextFlushAt = 0;
  private nextClaimAt = 0;
  private nextRetentionAt = 0;
  private running: Promise<void> | undefined;
  private retentionRun: Promise<void> | undefined;
  private touchTimer: NodeJS.Timeout | undefined;
  private touching = false;
  /** ends the loop's wait between retries (stop) */
  private endPause: (() => void) | undefined;
  private stopping = false;
  private failuresInARow = 0;
  private lastLoggedError = '';
  /** average size of an entry's fields, for the size of reads */
  private entryBytes = 0;
  private readonly counters: Omit<AggregatorStats, 'entriesBuffered' | 'lastFlushMs' | 'lastError'> = {
    entriesRead: 0,
    batchesApplied: 0,
    duplicateBatches: 0,
    deadLettered: 0,
    pointsRefused: 0,
    pointsIgnored: 0,
    flushes: 0,
    failedFlushes: 0,
    rowsExpired: 0,
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
    this.retentionDays = options.retentionDays ?? DEFAULT_RETENTION_DAYS;
    this.ledgerRetentionDays = options.ledgerRetentionDays ?? DEFAULT_LEDGER_RETENTION_DAYS;
    this.retentionIntervalMs = options.retentionIntervalMs ?? DEFAULT_RETENTION_INTERVAL_MS;
    this.retentionChunkRows = options.retentionChunkRows ?? DEFAULT_RETENTION_CHUNK_ROWS;
    this.hooks = options.hooks ?? {};
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
    const beforeCommit = this.hooks.beforeCommit;
    this.writer = new RollupWriter(options.mysql, beforeCommit ? { beforeCommit: () => beforeCommit(this.committing) } : {});
  }

  stats(): AggregatorStats {
    return { ...this.counters, entriesBuffered: this.heldCount(), lastFlushMs: this.lastFlushMs, lastError: this.lastError };
  }

  /** Starts the read-flush loop (and retention). Resolves once the consumer group exists. */
  async start(): Promise<void> {
    await this.consumer.ensureGroup();
    this.nextFlushAt = Date.now() + this.flushIntervalMs;
    this.nextClaimAt = Date.now() + Math.min(this.claimIdleMs, 5000);
    this.nextRetentionAt = 0;
    this.startTouching();
    this.running = this.loop();
  }

  /** Stops reading, flushes what is buffered (if MySQL takes it), and releases the read connection. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.endPause?.();
    await this.running;
    await this.retentionRun;
    try {
      await this.flush();
    } catch (err) {
      this.log('warn', `stopping with ${this.heldCount()} entries unflushed; they stay pending in the stream: ${(err as Error).message}`);
    }
    if (this.touchTimer) clearInterval(this.touchTimer);
    this.reader.disconnect();
    await this.consumer.leaveGroupIfIdle().catch((err: unknown) => {
      this.log('warn', `stopping: could not leave the consumer group: ${(err as Error).message}`);
    });
  }

  /**
   * Reads and applies everything the stream holds for this consumer right now, then returns.
   * For tests and one-shot runs; the service uses start().
   */
  async drainOnce(): Promise<void> {
    await this.consumer.ensureGroup();
    await this.runRetention();
    for (;;) {
      const entries = await this.consumer.read(this.readSize(), 1);
      if (entries.length === 0 && !this.consumer.readingOwnPending) break;
      await this.accept(entries, this.consumer.readingOwnPending);
      if (this.buffer.size >= this.flushMaxEntries) await this.flush();
    }
    await this.flush();
  }

  /** Runs retention once now (the loop runs it at start and every retentionIntervalMs). */
  async runRetention(): Promise<RetentionResult> {
    const oldestStreamEntryMs = await this.consumer.oldestEntryMs();
    const result = await applyRetention(
      this.options.mysql,
      { hourlyDays: this.retentionDays, ledgerDays: this.ledgerRetentionDays, chunkRows: this.retentionChunkRows },
      { ...(oldestStreamEntryMs === undefined ? {} : { oldestStreamEntryMs }), shouldStop: () => this.stopping },
    );
    const expired = Object.values(result.deleted).reduce((n, d) => n + d, 0);
    this.counters.rowsExpired += expired;
    if (expired > 0) {
      const what = Object.entries(result.deleted)
        .filter(([, n]) => n > 0)
        .map(([table, n]) => `${n} from ${table}`)
        .join(', ');
      this.log('info', `retention: deleted ${what} in ${result.deletes} chunks`);
    }
    return result;
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      try {
        if (Date.now() >= this.nextRetentionAt && this.retentionRun === undefined) {
          this.nextRetentionAt = Date.now() + this.retentionIntervalMs;
          // in the background, on the pool's other connections: it never holds up a flush
          this.retentionRun = this.runRetention()
            .then(
              () => undefined,
              (err: unknown) => this.log('warn', `retention: ${(err as Error).message}`),
            )
            .finally(() => {
              this.retentionRun = undefined;
            });
        }
        if (this.buffer.size < this.flushMaxEntries) {
          const wait = Math.max(1, Math.min(1000, this.nextFlushAt - Date.now()));
          const entries = await this.consumer.read(this.readSize(), wait);
          await this.accept(entries, this.consumer.readingOwnPending);
          if (entries.length > 0) await this.hooks.afterRead?.({ buffered: this.buffer.size, flushing: this.heldCount() - this.buffer.size });
        }
        if (Date.now() >= this.nextClaimAt && this.buffer.size < this.flushMaxEntries) {
          this.nextClaimAt = Date.now() + Math.max(1000, this.claimIdleMs / 2);
          const size = this.readSize();
          const found = await this.consumer.claimIdle(this.claimIdleMs, size);
          const claimed = found.filter((e) => !this.holds(e.id));
          if (claimed.length > 0) {
            this.log('info', `claimed ${claimed.length} entries left pending by other consumers`);
            await this.accept(claimed, true);
          }
          // a dead consumer left more: take them over at the pace of reads, not one read per claimIdle/2
          if (claimed.length > 0 && found.length >= size) this.nextClaimAt = 0;
        }
        if (this.buffer.size >= this.flushMaxEntries || Date.now() >= this.nextFlushAt) {
          await this.flush(true);
        }
        this.failuresInARow = 0;
      } catch (err) {
        this.failuresInARow++;
        this.lastError = reasonOf(err);
        this.counters.failedFlushes++;
        // NOGROUP, or (Redis 7) a blocked read whose stream key was deleted under it
        if (/NOGROUP|UNBLOCKED the stream key no longer exists/.test(String((err as Error).message))) {
          // the stream or its group is gone: a Redis restarted without its data, or a key deleted
          this.log('warn', `the consumer group ${this.consumer.group} on ${this.keys.stream} is gone (Redis restarted without its data?): creating it again; what the stream held unapplied went with it`);
          try {
            await this.consumer.ensureGroup();
            this.failuresInARow = 0;
            continue;
          } catch {
            // Redis refuses: retried below like any failure
          }
        }
        const what = isUnreachableError(err) ? 'a backing service does not answer' : 'flush failed';
        const line = `${what}: ${this.lastError}`;
        if (line !== this.lastLoggedError) {
          this.log('warn', `${line} (holding ${this.heldCount()} entries; retrying)`);
          this.lastLoggedError = line;
        }
        await this.pause(Math.min(10_000, 250 * 2 ** Math.min(this.failuresInARow, 6)));
      }
    }
  }

  /** Waits between retries; stop() ends the wait at once. */
  private pause(ms: number): Promise<void> {
    // stop() may have come while the step that failed was running: no wait then
    if (this.stopping) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.endPause = () => {
        clearTimeout(timer);
        resolve();
      };
    }).finally(() => {
      this.endPause = undefined;
    });
  }

  /** Entries per read: readCount, or fewer when entries are large. */
  private readSize(): number {
    // until the size of entries is known, a small first read
    if (this.entryBytes <= 0) return Math.min(this.readCount, 16);
    return Math.max(1, Math.min(this.readCount, Math.floor(READ_TARGET_BYTES / this.entryBytes)));
  }

  /**
   * Keeps the idle time of held entries well below claimIdleMs, so that other consumers claim
   * them only from an aggregator that stopped running (or hangs).
   */
  private startTouching(): void {
    const every = Math.max(100, Math.floor(this.claimIdleMs / 4));
    this.touchTimer = setInterval(() => {
      const ids = this.held().flatMap((b) => [...b.streamIds]);
      if (this.touching || ids.length === 0) return;
      this.touching = true;
      this.consumer
        .touch(ids, every / 2)
        .catch(() => undefined)
        .finally(() => {
          this.touching = false;
        });
    }, every);
    this.touchTimer.unref();
  }

  /**
   * Decodes entries and merges them into the buffer. Undecodable, too-often-delivered and expired
   * ones go to the dead-letter stream; redelivered ones whose batch the ledger has are only
   * acknowledged.
   */
  private async accept(entries: StreamEntry[], redelivered: boolean): Promise<void> {
    if (entries.length === 0) return;
    this.counters.entriesRead += entries.length;
    const deliveries = redelivered ? await this.consumer.deliveryCounts(entries.map((e) => e.id)) : undefined;
    // a redelivered entry may have been applied by a consumer that died before acknowledging it
    const applied = redelivered ? await this.alreadyApplied(entries.map((e) => e.fields?.id ?? '').filter((id) => id !== '')) : undefined;
    const cutoff = hourlyRetentionCutoff(Date.now(), this.retentionDays);
    let busySince = performance.now();
    for (const entry of entries) {
      if (performance.now() - busySince > YIELD_AFTER_MS) {
        // a flush in the background waits for its replies from MySQL: let them in
        await new Promise<void>((resolve) => setImmediate(resolve));
        busySince = performance.now();
      }
      if (this.holds(entry.id)) continue;
      if (entry.fields === undefined) {
        // deleted from the stream while pending: nothing left to apply
        await this.consumer.ack([entry.id]);
        continue;
      }
      let bytes = 0;
      for (const k in entry.fields) bytes += (entry.fields[k] as string).length;
      this.entryBytes = this.entryBytes === 0 ? bytes : this.entryBytes * 0.9 + bytes * 0.1;
      const delivered = deliveries?.get(entry.id) ?? 1;
      if (delivered > this.maxDeliveries) {
        await this.deadLetterEntry(entry, `delivered ${delivered} times without being applied (limit ${this.maxDeliveries})`);
        continue;
      }
      if (applied !== undefined && entry.fields.id !== undefined && applied.has(entry.fields.id.slice(0, 191))) {
        this.buffer.addDuplicate(entry.id);
        continue;
      }
      let batch: MetricBatch;
      try {
        batch = decodeBatch(entry.fields);
      } catch (err) {
        if (!(err instanceof WireFormatError)) throw err;
        await this.deadLetterEntry(entry, err.message);
        continue;
      }
      const badTime = timeOutOfRange(batch, Date.now());
      if (badTime !== undefined) {
        // MySQL's DATETIME would refuse it, and with it every flush the entry is in
        await this.deadLetterEntry(entry, badTime);
        continue;
      }
      const midpoint = batch.startTimeMs + (batch.endTimeMs - batch.startTimeMs) / 2;
      if (cutoff !== undefined && midpoint < cutoff) {
        // its hourly rows would be deleted again, and its day's metrics_daily recomputed from it alone
        await this.deadLetterEntry(
          entry,
          `data of ${new Date(midpoint).toISOString()} is older than the retention of hourly rows (${this.retentionDays} days before today, UTC)`,
        );
        continue;
      }
      // merged now: the decoded batch is not kept
      this.buffer.add(entry.id, batch);
    }
  }

  /** The batch ids (as the ledger stores them) among these that the ledger has. */
  private async alreadyApplied(batchIds: string[]): Promise<Set<string>> {
    const found = new Set<string>();
    const ids = [...new Set(batchIds.map((id) => id.slice(0, 191)))];
    for (let i = 0; i < ids.length; i += 1000) {
      const rows = await this.options.mysql.db
        .select({ batchId: metricsBatchLedger.batchId })
        .from(metricsBatchLedger)
        .where(inArray(metricsBatchLedger.batchId, ids.slice(i, i + 1000)));
      for (const r of rows) found.add(r.batchId);
    }
    return found;
  }

  private async deadLetterEntry(entry: StreamEntry, reason: string): Promise<void> {
    await this.consumer.deadLetter(entry, reason);
    this.counters.deadLettered++;
    this.log('warn', `entry ${entry.id} moved to ${this.keys.deadLetter}: ${reason}`);
  }

  /** Totals of some of the buffered entries, decoded again from the stream (a rare path). */
  private async rebuild(fresh: readonly LedgerEntry[]): Promise<RebuiltRollup> {
    const rollup = new BatchRollup();
    const missing: LedgerEntry[] = [];
    const entries = await this.consumer.fetch(fresh.map((e) => e.streamId));
    fresh.forEach((e, i) => {
      const fields = entries[i]?.fields;
      if (fields === undefined) {
        missing.push(e);
        return;
      }
      // it decoded when it was read; the stream does not change an entry
      rollup.add(decodeBatch(fields));
    });
    return { rollup, missing };
  }

  private held(): FlushBuffer[] {
    const out = [this.buffer];
    if (this.flushing) out.push(this.flushing.buffer);
    if (this.unflushed) out.push(this.unflushed);
    return out;
  }

  private holds(streamId: string): boolean {
    return this.held().some((b) => b.holds(streamId));
  }

  private heldCount(): number {
    return this.held().reduce((n, b) => n + b.size, 0);
  }

  /**
   * Flushes the buffer: waits for the flush before it (one transaction at a time), flushes again
   * a buffer whose flush failed, then this one. In the background (the loop's flushes) it returns
   * once the flush started, and the loop reads on while MySQL commits.
   */
  private async flush(background = false): Promise<void> {
    this.nextFlushAt = Date.now() + this.flushIntervalMs;
    if (this.flushing) await this.flushing.done;
    if (this.flushError !== undefined) {
      const err = this.flushError;
      this.flushError = undefined;
      // the loop reports it and backs off; stop() and drainOnce() simply try again
      if (background) throw err;
    }
    if (this.unflushed) {
      await this.commit(this.unflushed);
      this.unflushed = undefined;
    }
    const buffer = this.buffer;
    if (buffer.size === 0) return;
    this.buffer = new FlushBuffer();
    const done = this.commit(buffer).then(
      () => undefined,
      (err: unknown) => {
        this.unflushed = buffer;
        if (background) this.flushError = err;
        else throw err;
      },
    );
    if (!background) return done;
    this.flushing = {
      buffer,
      done: done.finally(() => {
        this.flushing = undefined;
      }),
    };
  }

  /**
   * One flush, said in the log while it waits on MySQL longer than slowFlushWarningMs: a server
   * that has stopped answering (not refusing) leaves a transaction waiting without an error.
   */
  private async commit(buffer: FlushBuffer): Promise<void> {
    const every = this.options.slowFlushWarningMs ?? 30_000;
    const started = Date.now();
    const watch =
      every > 0
        ? setInterval(() => {
            this.log('warn', `a flush of ${buffer.size} entries has waited ${Math.round((Date.now() - started) / 1000)} s for MySQL or Redis to answer; still waiting`);
          }, every)
        : undefined;
    watch?.unref();
    try {
      await this.commitOnce(buffer);
    } finally {
      clearInterval(watch);
    }
  }

  /** One flush: the transaction, then the acknowledgements, then the realtime view. */
  private async commitOnce(buffer: FlushBuffer): Promise<void> {
    if (buffer.oneAtATime) return this.commitOneAtATime(buffer);
    let result: MergedFlushResult | undefined;
    const info: FlushInfo = { entries: buffer.size, batches: buffer.entries.length };
    this.committing = info;
    if (buffer.entries.length > 0) {
      try {
        result = await this.writer.applyMerged({ entries: buffer.entries, rollup: buffer.rollup, rebuild: (fresh) => this.rebuild(fresh) });
      } catch (err) {
        // a value MySQL will not store fails every flush it is in: find the entries that hold it
        if (!isMysqlDataError(err)) throw err;
        this.log('warn', `MySQL refused a flush of ${buffer.entries.length} batches (${reasonOf(err)}); applying them one at a time to set aside the ones it refuses`);
        buffer.oneAtATime = true;
        return this.commitOneAtATime(buffer);
      }
    }
    // committed: from here a crash re-delivers, and the ledger skips these batches
    await this.hooks.beforeAck?.(info);
    await this.consumer.ack([...buffer.streamIds]);
    this.counters.flushes++;
    this.counters.batchesApplied += result?.applied.length ?? 0;
    this.counters.duplicateBatches += (result?.duplicates.length ?? 0) + buffer.duplicates.length;
    this.lastFlushMs = Date.now();
    this.lastError = undefined;
    this.lastLoggedError = '';
    for (const e of result?.missing ?? []) {
      this.log('warn', `entry ${e.streamId} (batch ${e.batchId}) was deleted from the stream before it could be applied; acknowledged`);
    }
    await this.afterCommit(result?.rollup ?? new BatchRollup());
  }

  /**
   * A flush MySQL refused, one transaction per batch: a batch it refuses goes to the dead-letter
   * stream, the others are applied. Each is acknowledged after its own commit, so after a failure
   * (MySQL gone) the buffer holds only the batches still to do, and the ledger skips none twice.
   */
  private async commitOneAtATime(buffer: FlushBuffer): Promise<void> {
    const alone = (buffer.alone ??= { applied: new BatchRollup(), accepted: 0, refused: [] });
    while (buffer.entries.length > 0) {
      const e = buffer.entries[0] as LedgerEntry;
      const [entry] = await this.consumer.fetch([e.streamId]);
      if (entry?.fields === undefined) {
        this.log('warn', `entry ${e.streamId} (batch ${e.batchId}) was deleted from the stream before it could be applied; acknowledged`);
        await this.consumer.ack([e.streamId]);
        buffer.streamIds.delete(e.streamId);
      } else {
        // it decoded when it was read; the stream does not change an entry
        const batch = decodeBatch(entry.fields);
        const rollup = new BatchRollup();
        rollup.add(batch);
        this.committing = { entries: 1, batches: 1 };
        let result: MergedFlushResult | undefined;
        try {
          // rebuilt with none of it when the ledger has it already (applied before a failure)
          result = await this.writer.applyMerged({ entries: [e], rollup, rebuild: (fresh) => ({ rollup: fresh.length === 0 ? new BatchRollup() : rollup, missing: [] }) });
        } catch (err) {
          if (!isMysqlDataError(err)) throw err;
          // set aside below, once it is known whether MySQL refuses only some batches
          alone.refused.push({ ledger: e, entry, reason: `MySQL refused its totals: ${reasonOf(err)}` });
        }
        if (result !== undefined) {
          // committed: counted now, whatever happens to the acknowledgement
          this.counters.batchesApplied += result.applied.length;
          this.counters.duplicateBatches += result.duplicates.length;
          alone.accepted++;
          if (result.applied.length > 0) alone.applied.add(batch);
          await this.hooks.beforeAck?.(this.committing);
          await this.consumer.ack([e.streamId]);
          buffer.streamIds.delete(e.streamId);
        }
      }
      buffer.entries.shift();
    }
    if (alone.refused.length >= 2 && alone.accepted === 0) {
      // every batch refused, each alone: the schema or this aggregator is at fault, not the data.
      // Nothing is set aside; the flush fails and is retried, as any other
      const first = alone.refused[0] as (typeof alone.refused)[number];
      buffer.entries.push(...alone.refused.map((x) => x.ledger));
      const n = alone.refused.length;
      alone.refused = [];
      throw new Error(`MySQL refused each of the flush's ${n} batches alone (${first.reason.replace('MySQL refused its totals: ', '')}): kept, not dead-lettered; is the schema this version's (otel-bandwidth migrate)?`);
    }
    for (const x of alone.refused) {
      await this.deadLetterEntry(x.entry, x.reason);
      buffer.streamIds.delete(x.entry.id);
    }
    alone.refused = [];
    await this.consumer.ack([...buffer.streamIds]);
    this.counters.duplicateBatches += buffer.duplicates.length;
    this.counters.flushes++;
    this.lastFlushMs = Date.now();
    this.lastError = undefined;
    this.lastLoggedError = '';
    await this.afterCommit(alone.applied);
  }

  /** Realtime view, status and trimming: best effort, never undoing the commit. */
  private async afterCommit(rollup: BatchRollup): Promise<void> {
    const redis = this.options.redis;
    this.counters.pointsIgnored += rollup.ignoredPoints;
    if (rollup.refusedPoints > 0) {
      this.counters.pointsRefused += rollup.refusedPoints;
      this.log(
        'warn',
        `left out ${rollup.refusedPoints} points of ${rollup.batches} batches applied: values the columns cannot hold ` +
          `(a byte sum negative or past 2^53, a duration negative or past 99,999,999,999.999 ms)`,
      );
    }
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
