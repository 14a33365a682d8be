import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { diag } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { AggregationTemporality, type InstrumentType, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  DEFAULT_KEY_PREFIX,
  DEFAULT_REDIS_URL,
  WIRE_POINTS,
  encodeBatchOfStepwise,
  fieldsToArray,
  redisKeys,
  type BatchOf,
  type EncodedEntry,
  type PointReader,
  type UserUsage,
} from '@otel-bandwidth/core';
import type { Cluster, Redis } from 'ioredis';
import { MAX_HELD_USERS, addHeldUsers, countBatchPoints, mergeInto, type UnsentBatch } from './batch-merge';
import { createOwnedClient } from './redis-client';
import { OTEL_POINTS, resourceMetricsToBatch, resourceMetricsView, toUnsentBatch } from './resource-metrics-to-batch';

export interface RedisMetricExporterOptions {
  /** A client to use (Redis or Cluster). The exporter never closes a client it was given. */
  redis?: Redis | Cluster;
  /**
   * Used when no client is given. Default: REDIS_URL, else redis://127.0.0.1:6379. With
   * `cluster`, the seed nodes, comma-separated (`redis://a:7000,b:7001`).
   */
  url?: string;
  /** `url` names Redis Cluster nodes: the exporter's own client is an ioredis Cluster. */
  cluster?: boolean;
  /** Key prefix; every key is `{prefix}:...`. Default "otel-bandwidth". */
  keyPrefix?: string;
  /**
   * Names this process in batch ids. A random part is always added, so a name a restarted process
   * uses again never repeats a batch id the aggregator's ledger holds (it would take the new batch
   * for the old one and skip it). Default: host-pid.
   */
  instanceId?: string;
  /** While the stream holds this many entries or more, data is held and merged locally. Default 100000. */
  maxStreamLength?: number;
  /** How long one attempt to connect or send may take. Default 2000 ms. */
  sendTimeoutMillis?: number;
  /** Backoff between attempts while sending fails: from min, doubling, to max, with jitter. Defaults 500 and 30000 ms. */
  retryMinDelayMillis?: number;
  retryMaxDelayMillis?: number;
  /** How long `shutdown` keeps trying to deliver what is held before giving it up. Default 5000 ms. */
  shutdownTimeoutMillis?: number;
  /** Called at each export for the interval's per-user usage (see the instrumentation). */
  collectUserUsage?: () => UserUsage[];
  /** The clock of the once-a-minute report. Default Date.now. */
  now?: () => number;
  /** The source of the backoff's jitter, in [0, 1). Default Math.random. */
  random?: () => number;
}

export interface ExporterStats {
  /** batches XADDed to the stream */
  batchesExported: number;
  /** data points in those batches */
  pointsExported: number;
  /** attempts to send that failed or were held back by the stream limit (each is retried) */
  retries: number;
  /** sends of a batch that may already be in the stream (an earlier attempt timed out or lost its connection); same batch id */
  resends: number;
  /** data points held in memory, not yet confirmed in the stream */
  pointsPending: number;
  /** data points given up (only at shutdown, past its deadline) */
  pointsDropped: number;
  /** users' usage left out of held data: past MAX_HELD_USERS users while Redis did not take it */
  usersDropped: number;
  /** failed attempts since the last success */
  failuresInARow: number;
  /** the delay chosen for the next attempt while failing, in ms */
  retryDelayMillis: number | undefined;
  /** the last reason a send failed, if the last attempt failed */
  lastError: string | undefined;
}

/** The counters are reported through OTel's diag logger at most this often. */
export const STATS_REPORT_INTERVAL_MILLIS = 60_000;

// XADD unless the stream is at its limit: back-pressure without ever trimming unread data.
const XADD_UNLESS_FULL = `
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then return false end
return redis.call('XADD', KEYS[1], '*', unpack(ARGV, 2))
`;

/** The stream is at its limit: nothing was added. */
class StreamFullError extends Error {}

/** A batch being sent: encoded once, so that every attempt sends the same id and bytes. */
interface Attempt {
  batchId: string;
  fields: Array<string | Buffer>;
  points: number;
  /** the batch as data to hold again, should Redis add nothing (converted only then) */
  unsent: () => UnsentBatch;
  /** an attempt ended without an answer: the entry may be in the stream already */
  maybeSent: boolean;
}

/** A batch to encode next, whatever holds its points. */
interface Encodable {
  points: number;
  encode(batchId: string): Generator<void, EncodedEntry, void>;
  unsent: () => UnsentBatch;
}

function encodable<P>(batch: Omit<BatchOf<P>, 'batchId'>, read: PointReader<P>, unsent: () => UnsentBatch): Encodable {
  return { points: countBatchPoints(batch), encode: (batchId) => encodeBatchOfStepwise({ ...batch, batchId }, read), unsent };
}

/** `name`, or host-pid, with a random part unique to this exporter. */
function instanceIdOf(name: string | undefined): string {
  // at most 100 characters of the name: the ledger keeps a batch id's first 191, and the random
  // part and the sequence must be among them
  return `${(name ?? `${os.hostname()}-${process.pid}`).slice(0, 100)}-${randomBytes(4).toString('hex')}`;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** The data points of a collection, as far as it can be read. */
function dataPointsIn(metrics: ResourceMetrics): number {
  let points = 0;
  try {
    for (const scope of metrics.scopeMetrics) for (const m of scope.metrics) points += m.dataPoints.length;
  } catch {
    // as many as could be counted
  }
  return points;
}

/** Resolves in the event loop's next turn, after the I/O that is waiting. */
function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Runs work that the caller waits for (forceFlush, shutdown), holding the process open meanwhile
 * with one ref'd timer of at most `ms`: the exporter's own sockets and timers never do, so without
 * it a script's `await shutdown()` at its end would see the process exit under it, and the data
 * it meant to send with it.
 */
async function holdingProcessOpen<T>(ms: number, work: () => Promise<T>): Promise<T> {
  const hold = setTimeout(() => undefined, ms);
  try {
    return await work();
  } finally {
    clearTimeout(hold);
  }
}

function sleepUnref(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function messageOf(err: unknown): string {
  const message = typeof err === 'object' && err !== null ? (err as { message?: unknown }).message : undefined;
  return typeof message === 'string' ? message : String(err);
}

/** Redis answered with an error: the script ran and added nothing. */
function isReplyError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { name?: unknown }).name === 'ReplyError';
}

/**
 * An OpenTelemetry PushMetricExporter that XADDs one entry per export to a Redis Stream.
 *
 * Delta temporality for every instrument. `export` only takes the data and answers at once; the
 * encoding and sending happen beside it. A collection with nothing held before it is encoded from
 * OpenTelemetry's points where they are, with no copy; data that must be held is copied into the
 * wire format's objects (UnsentBatch). Nothing is lost while Redis is down or the
 * stream is full: data not yet sent is merged into one pending batch (bounded by the number of
 * series) and retried with exponential backoff and jitter, on unref'd timers. A batch whose send got no answer (timeout,
 * lost connection) may be in the stream already: it is sent again as it was, under the same id,
 * and the aggregator's ledger applies it once. `shutdown` keeps trying until its deadline.
 */
export class RedisMetricExporter implements PushMetricExporter {
  readonly streamKey: string;
  readonly instanceId: string;
  private readonly givenClient: Redis | Cluster | undefined;
  private readonly url: string;
  private readonly cluster: boolean;
  private readonly maxStreamLength: number;
  private readonly sendTimeoutMillis: number;
  /** while shutting down: no attempt may run past this (ms since the epoch) */
  private shutdownDeadline: number | undefined;
  private shutdownFirstAttempt = true;
  private readonly retryMin: number;
  private readonly retryMax: number;
  private readonly shutdownTimeoutMillis: number;
  private readonly collectUserUsage: (() => UserUsage[]) | undefined;
  private readonly now: () => number;
  private readonly random: () => number;

  /** the client the exporter made and owns (created on first use, replaced after a failure) */
  private ownClient: Redis | Cluster | undefined;
  private sequence = 0;
  private attempt: Attempt | undefined;
  /**
   * Collections taken by export() and not yet encoded or held: the next send encodes one that
   * comes alone with nothing held (nextToEncode) and converts and merges the rest into what is
   * held, in a turn of the event loop of their own; while sending is backing off each is converted
   * at once (so that what is held stays one merged batch however long Redis is away).
   */
  private unconverted: Array<{ metrics: ResourceMetrics; users: UserUsage[] }> = [];
  /** data not yet sent, merged across intervals */
  private pending: UnsentBatch | undefined;
  /** the data points of the batch being encoded (between pending and attempt, over a few turns) */
  private encodingPoints = 0;
  private sending: Promise<boolean> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelayMillis: number | undefined;
  private failuresInARow = 0;
  private isShutdown = false;
  private shuttingDown: Promise<void> | undefined;
  private readonly counters = { batchesExported: 0, pointsExported: 0, retries: 0, resends: 0, pointsDropped: 0, usersDropped: 0 };
  private lastError: string | undefined;
  private lastReportMs: number;
  /** when a run of failures was last said at its start (at most once per report interval) */
  private lastTroubleMs = Number.NEGATIVE_INFINITY;
  private reported = { retries: 0, pointsDropped: 0, usersDropped: 0 };

  constructor(options: RedisMetricExporterOptions = {}) {
    this.streamKey = redisKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX).stream;
    this.instanceId = instanceIdOf(options.instanceId);
    this.maxStreamLength = options.maxStreamLength ?? 100_000;
    this.sendTimeoutMillis = options.sendTimeoutMillis ?? 2000;
    this.retryMin = Math.max(1, options.retryMinDelayMillis ?? 500);
    this.retryMax = Math.max(this.retryMin, options.retryMaxDelayMillis ?? 30_000);
    this.shutdownTimeoutMillis = options.shutdownTimeoutMillis ?? 5000;
    this.collectUserUsage = options.collectUserUsage;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
    this.givenClient = options.redis;
    this.url = options.url ?? process.env.REDIS_URL ?? DEFAULT_REDIS_URL;
    this.cluster = options.cluster ?? false;
    this.lastReportMs = this.now();
  }

  selectAggregationTemporality(_instrumentType: InstrumentType): AggregationTemporality {
    return AggregationTemporality.DELTA;
  }

  /**
   * Takes the interval's data and answers at once; encoding and sending happen beside it, from
   * the next turn of the event loop on: the collection, the grouping of its points into the wire
   * format's metrics, the encoding of each of those and the send each run in a turn of their own
   * (in the app's thread, several short holds of its event loop instead of two long ones). Never
   * throws.
   */
  export(metrics: ResourceMetrics, resultCallback: (result: ExportResult) => void): void {
    if (this.isShutdown) {
      resultCallback({ code: ExportResultCode.FAILED, error: new Error('exporter is shut down') });
      return;
    }
    try {
      // the users of this interval, now: the next collection starts a new one
      const users = this.collectUserUsage?.() ?? [];
      // while backing off, the data waits for the scheduled attempt, merged into what is held
      if (this.retryTimer) this.take(metrics, users);
      else this.unconverted.push({ metrics, users });
    } catch (err) {
      resultCallback({ code: ExportResultCode.FAILED, error: err instanceof Error ? err : new Error(String(err)) });
      return;
    }
    resultCallback({ code: ExportResultCode.SUCCESS });
    if (!this.retryTimer) void this.drain().then(() => this.maybeReport());
    else this.maybeReport();
  }

  /** Tries now to send everything held; resolves when that attempt ends, whatever its outcome. */
  async forceFlush(): Promise<void> {
    // an attempt may connect and then send, each within sendTimeoutMillis
    await holdingProcessOpen(2 * this.sendTimeoutMillis + 1000, () => this.drain());
  }

  /**
   * Sends what is held, retrying until shutdownTimeoutMillis has passed, then gives up what is
   * left (counted in pointsDropped) and closes the client the exporter made.
   */
  shutdown(): Promise<void> {
    this.shuttingDown ??= holdingProcessOpen(this.shutdownTimeoutMillis + 1000, () => this.shutdownNow());
    return this.shuttingDown;
  }

  /**
   * Starts the shutdown's clock without shutting down yet: from now on no attempt runs past
   * shutdownTimeoutMillis from now, and shutdown() keeps that deadline. For a MeterProvider's
   * shutdown, which flushes the exporter (an attempt on its own sendTimeoutMillis, up to an
   * export interval) before it shuts it down: called first, the whole of it ends by the
   * deadline, and what could not be delivered is said.
   */
  startShutdownClock(): void {
    this.shutdownDeadline ??= Date.now() + this.shutdownTimeoutMillis;
  }

  stats(): ExporterStats {
    return {
      ...this.counters,
      pointsPending: this.pointsPending(),
      failuresInARow: this.failuresInARow,
      retryDelayMillis: this.retryDelayMillis,
      lastError: this.lastError,
    };
  }

  private async shutdownNow(): Promise<void> {
    this.isShutdown = true;
    this.clearRetry();
    // a clock started earlier (startShutdownClock) had its chance in the flush before this: past
    // its deadline, no wait at all
    const clockStartedEarlier = this.shutdownDeadline !== undefined;
    const deadline = this.shutdownDeadline ?? Date.now() + this.shutdownTimeoutMillis;
    this.shutdownDeadline = deadline;
    let pause = 100;
    for (;;) {
      // an attempt that started before the shutdown runs on its own timeout: not waited for past
      // the deadline (the first wait at least 250 ms, so that no time to wait is still one chance)
      const budget = Math.max(this.shutdownFirstAttempt && !clockStartedEarlier ? 250 : 0, deadline - Date.now());
      if (await Promise.race([this.drain(), sleepUnref(budget).then(() => false)])) break;
      // another attempt only while there is time for one
      this.shutdownFirstAttempt = false;
      if (deadline - Date.now() < pause + 100) break;
      await sleepUnref(pause);
      pause = Math.min(pause * 2, 1000);
    }
    const left = this.pointsPending();
    if (left > 0) {
      this.counters.pointsDropped += left;
      diag.warn(`otel-bandwidth exporter: shutting down with ${left} data points not delivered (${this.lastError ?? 'unknown reason'})`);
      this.pending = undefined;
      this.attempt = undefined;
    }
    this.discardClient();
  }

  private pointsPending(): number {
    this.convertQueued();
    return (this.attempt?.points ?? 0) + this.encodingPoints + (this.pending ? countBatchPoints(this.pending) : 0);
  }

  /** A collection converted to the wire format and merged into what is held. */
  private take(metrics: ResourceMetrics, users: UserUsage[]): void {
    const batch = resourceMetricsToBatch(metrics);
    if (batch) {
      if (users.length > 0) batch.users = users;
      this.hold(batch);
    } else if (users.length > 0 && this.pending) {
      this.counters.usersDropped += addHeldUsers(this.pending, users);
    }
  }

  /** Converts the collections export() took; one that cannot be converted is counted and reported, never retried. */
  private convertQueued(): void {
    if (this.unconverted.length === 0) return;
    const queued = this.unconverted;
    this.unconverted = [];
    for (const { metrics, users } of queued) {
      try {
        this.take(metrics, users);
      } catch (err) {
        this.dropUnconvertible(metrics, err);
      }
    }
  }

  private dropUnconvertible(metrics: ResourceMetrics, err: unknown): void {
    const points = dataPointsIn(metrics);
    this.counters.pointsDropped += points;
    this.lastError = `collection not convertible: ${messageOf(err)}`;
    diag.error(`otel-bandwidth exporter: ${this.lastError} (${points} data points dropped)`);
  }

  private hold(batch: UnsentBatch): void {
    if (!this.pending) this.pending = batch;
    else this.counters.usersDropped += mergeInto(this.pending, batch);
  }

  private drain(): Promise<boolean> {
    this.sending ??= this.sendAll()
      .catch((err: unknown) => {
        this.onFailure(err, false);
        return false;
      })
      .finally(() => {
        this.sending = undefined;
      });
    return this.sending;
  }

  /**
   * What to encode next: a collection that comes alone, with nothing held before it (the usual
   * case), as OpenTelemetry's own data, read in place; else what is held, the collections taken
   * since merged into it.
   */
  private nextToEncode(): Encodable | undefined {
    if (!this.pending && this.unconverted.length === 1) {
      const { metrics, users } = this.unconverted.pop() as { metrics: ResourceMetrics; users: UserUsage[] };
      try {
        const view = resourceMetricsView(metrics);
        if (view !== undefined) {
          if (users.length > 0) view.users = users;
          return encodable(view, OTEL_POINTS, () => toUnsentBatch(view, OTEL_POINTS));
        }
      } catch (err) {
        this.dropUnconvertible(metrics, err);
      }
    }
    this.convertQueued();
    const batch = this.pending;
    if (!batch) return undefined;
    this.pending = undefined;
    return encodable(batch, WIRE_POINTS, () => batch);
  }

  private async sendAll(): Promise<boolean> {
    for (;;) {
      if (this.unconverted.length > 0) {
        // not in the same turn of the event loop as the collection that came before it
        await nextTurn();
        // behind an attempt still to be answered: merged into what is held
        if (this.attempt) this.convertQueued();
      }
      if (!this.attempt) {
        const next = this.nextToEncode();
        if (!next) {
          this.onAllDelivered();
          return true;
        }
        const batchId = `${this.instanceId}:${++this.sequence}`;
        const points = next.points;
        this.encodingPoints = points;
        try {
          // nor the encoding's metrics in one turn
          const steps = next.encode(batchId);
          let step: IteratorResult<void, EncodedEntry>;
          do {
            await nextTurn();
            step = steps.next();
          } while (step.done !== true);
          this.attempt = { batchId, fields: fieldsToArray(step.value), points, unsent: next.unsent, maybeSent: false };
        } catch (err) {
          // data the wire format cannot carry would fail the same way forever
          this.sequence--;
          this.counters.pointsDropped += points;
          this.lastError = `batch not encodable: ${messageOf(err)}`;
          continue;
        } finally {
          this.encodingPoints = 0;
        }
        // nor the send (the client's command, the socket write of the entry) in the encoding's
        await nextTurn();
      }
      const attempt = this.attempt;
      let client: Redis | Cluster;
      try {
        client = await this.connectedClient();
      } catch (err) {
        this.onFailure(err, true);
        return false;
      }
      try {
        if (attempt.maybeSent) this.counters.resends++;
        const id = await withTimeout(
          client.eval(XADD_UNLESS_FULL, 1, this.streamKey, String(this.maxStreamLength), ...attempt.fields),
          this.attemptTimeoutMillis(),
          'XADD',
        );
        if (id === null) throw new StreamFullError(`stream ${this.streamKey} holds ${this.maxStreamLength} entries or more; holding data locally`);
        this.counters.batchesExported++;
        this.counters.pointsExported += attempt.points;
        this.attempt = undefined;
        this.failuresInARow = 0;
        this.lastError = undefined;
      } catch (err) {
        const nothingAdded = err instanceof StreamFullError || isReplyError(err);
        if (!nothingAdded) {
          // no answer: the entry may have been added; the connection's state is unknown
          attempt.maybeSent = true;
          this.discardClient();
        }
        this.onFailure(err, nothingAdded);
        return false;
      }
    }
  }

  /**
   * sendTimeoutMillis, or less once shutting down: what is left until the shutdown's deadline (the
   * first attempt at least 250 ms, so that even a shutdown with no time to wait gives Redis one
   * real chance)
   */
  private attemptTimeoutMillis(): number {
    const deadline = this.shutdownDeadline;
    if (deadline === undefined) return this.sendTimeoutMillis;
    return Math.min(this.sendTimeoutMillis, Math.max(this.shutdownFirstAttempt ? 250 : 1, deadline - Date.now()));
  }

  private async connectedClient(): Promise<Redis | Cluster> {
    if (this.givenClient) return this.givenClient;
    if (this.ownClient && this.ownClient.status !== 'ready') this.discardClient();
    if (!this.ownClient) {
      const client = createOwnedClient({ url: this.url, cluster: this.cluster, connectTimeoutMillis: this.sendTimeoutMillis });
      this.ownClient = client;
      let socketError: unknown;
      const onError = (err: unknown): void => {
        socketError ??= err;
      };
      client.on('error', onError);
      try {
        await withTimeout(client.connect(), this.attemptTimeoutMillis(), 'connecting to Redis');
      } catch (err) {
        if (this.ownClient === client) this.discardClient();
        throw socketError ?? err; // the socket's reason (ECONNREFUSED ...) rather than "Connection is closed."
      } finally {
        client.removeListener('error', onError);
      }
    }
    return this.ownClient;
  }

  private discardClient(): void {
    const client = this.ownClient;
    this.ownClient = undefined;
    if (client) {
      try {
        client.disconnect();
      } catch {
        // already closed
      }
    }
  }

  /**
   * Counts the failure and schedules the next attempt. When nothing was added (the stream was
   * full, Redis refused, no connection) and no earlier attempt of the batch went unanswered,
   * the batch goes back into the pending data: what is held stays one merged batch.
   */
  private onFailure(err: unknown, nothingAdded: boolean): void {
    this.counters.retries++;
    this.failuresInARow++;
    this.lastError = messageOf(err);
    if (this.failuresInARow === 1 && !this.isShutdown && this.now() - this.lastTroubleMs >= STATS_REPORT_INTERVAL_MILLIS) {
      // said at once (a wrong REDIS_URL shows at the first export), then in the minute's report
      this.lastTroubleMs = this.now();
      diag.warn(`otel-bandwidth exporter: Redis did not take the data (${this.lastError}); holding it and retrying with backoff`);
    }
    const attempt = this.attempt;
    if (nothingAdded && attempt && !attempt.maybeSent) {
      this.attempt = undefined;
      this.sequence--; // the id was never seen outside this process
      const batch = attempt.unsent();
      if (this.pending) this.counters.usersDropped += mergeInto(batch, this.pending);
      this.pending = batch;
    }
    this.scheduleRetry();
  }

  private onAllDelivered(): void {
    this.failuresInARow = 0;
    this.lastError = undefined;
    this.clearRetry();
  }

  private scheduleRetry(): void {
    if (this.isShutdown || this.retryTimer) return;
    const base = Math.min(this.retryMax, this.retryMin * 2 ** Math.min(this.failuresInARow - 1, 30));
    // "equal jitter": half the delay fixed, half random, so processes that failed together spread out
    const delay = Math.round(base / 2 + this.random() * (base / 2));
    this.retryDelayMillis = delay;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.drain().then(() => this.maybeReport());
    }, delay);
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryDelayMillis = undefined;
  }

  /** The counters, through OTel's diag logger, at most once a minute: warn when anything went wrong. */
  private maybeReport(): void {
    const now = this.now();
    if (now - this.lastReportMs < STATS_REPORT_INTERVAL_MILLIS) return;
    this.lastReportMs = now;
    const s = this.stats();
    const troubled =
      s.failuresInARow > 0 || s.retries > this.reported.retries || s.pointsDropped > this.reported.pointsDropped || s.usersDropped > this.reported.usersDropped;
    this.reported = { retries: s.retries, pointsDropped: s.pointsDropped, usersDropped: s.usersDropped };
    const line =
      `otel-bandwidth exporter: ${s.batchesExported} batches (${s.pointsExported} data points) exported, ` +
      `${s.retries} retries, ${s.resends} resends, ${s.pointsPending} data points pending, ${s.pointsDropped} dropped` +
      (s.usersDropped > 0 ? `, ${s.usersDropped} users' usage left out past ${MAX_HELD_USERS} held` : '') +
      (s.lastError ? `; last failure: ${s.lastError}` : '');
    if (troubled) diag.warn(line);
    else diag.info(line);
  }
}
