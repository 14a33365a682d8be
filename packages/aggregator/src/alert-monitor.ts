/**
 * Raises and resolves alerts: every interval, the aggregator holding the alert lease reads the
 * realtime view's settled minutes (their duration buckets too when a rule watches a latency),
 * evaluates the rules (alert-evaluation.ts) and brings `bandwidth_alerts` in line: a condition
 * that starts to hold opens one alert (its `open_key` is unique while open, so two evaluators
 * cannot open it twice), one that goes on holding raises its peak, and an open alert whose
 * condition has not held for its rule's resolveAfterMinutes, or whose rule is gone, is resolved.
 * Then the webhook is told (alert-notifier.ts).
 *
 * Any number of aggregators may run it: a lease in Redis (SET NX with an expiry, renewed by its
 * holder before each step) lets one evaluate at a time; another takes over once it expires (three
 * intervals after its holder's last renewal), or at its next round after a clean stop.
 *
 * Which minutes count: those that have settled, `settleMs` after their end, by when the exporters
 * (every 5 s by default) and a flush (5 s) have brought them; and never a minute the aggregators
 * have not applied yet: while the stream holds entries not yet applied (aggregators behind, MySQL
 * down, an aggregator dead until its entries are claimed), the window ends before the oldest of
 * them, and a round that would look at an older window than the last one waits instead. When Redis
 * or MySQL fails, the round is skipped: nothing is resolved for want of data.
 */
import { MINUTE_MS, REALTIME_DURATION_BUCKETS, RealtimeViewReader, minuteStart, queueRealtimeHash, type RealtimeStat, type RedisKeys, type SeriesIdentityKey } from '@otel-bandwidth/core';
import { bandwidthAlerts, type MysqlConnection } from '@otel-bandwidth/storage';
import { and, eq, isNotNull, sql } from 'drizzle-orm';
import type { Cluster, Redis } from 'ioredis';
import { evaluateAlertRules, type AlertCondition, type MinuteSeriesTotals } from './alert-evaluation';
import { AlertNotifier } from './alert-notifier';
import { isLatencyRule, minutesNeeded, type AlertRule } from './alert-rules';
import { oldestUnappliedEntryMs } from './stream-backlog';

export interface AlertMonitorOptions {
  redis: Redis | Cluster;
  mysql: MysqlConnection;
  keys: RedisKeys;
  /** the aggregators' consumer group, whose backlog the window waits for. Default "aggregators". */
  group?: string;
  rules: readonly AlertRule[];
  /** who holds the lease: the aggregator's consumer name */
  owner: string;
  /** ms between rounds. Default 30000. */
  intervalMs?: number;
  /** ms after a minute's end before it is evaluated. Default 30000. */
  settleMs?: number;
  /** told of every alert opened and resolved (POST, JSON) */
  webhookUrl?: string;
  /** ms a webhook call may take. Default 5000. */
  webhookTimeoutMs?: number;
  log?: (level: 'info' | 'warn' | 'error', message: string) => void;
}

export interface AlertRoundResult {
  /** false when another aggregator holds the lease, or the aggregators are behind (nothing was done) */
  evaluated: boolean;
  /** the end of the window evaluated (data time, a minute start), or undefined */
  windowEnd: number | undefined;
  opened: number;
  resolved: number;
  /** alerts that stay open */
  open: number;
  notified: number;
}

export interface AlertMonitorStats {
  rounds: number;
  /** minutes of the realtime view read from Redis (each once: settled minutes are kept) */
  minutesRead: number;
  failedRounds: number;
  opened: number;
  resolved: number;
  notified: number;
  failedNotifications: number;
  lastError: string | undefined;
}

/** Renews the lease if this owner holds it, else takes it if free: 1 when held afterwards. */
const TAKE_LEASE = `
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if holder then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;
const RELEASE_LEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** The realtime view's stats rate rules read (alert-condition.ts MinuteSeriesTotals). */
const RATE_STATS: readonly RealtimeStat[] = ['requests', 'inboundBytes', 'outboundBytes', 'errors'];
/** What latency rules read besides: the duration buckets, the fastest and slowest request. */
const LATENCY_STATS: readonly RealtimeStat[] = ['durationBucket', 'minDurationMs', 'maxDurationMs'];

/** A series' minute as it is read, before it is kept. */
interface SeriesRead extends MinuteSeriesTotals {
  durationBuckets?: number[];
}

export class AlertMonitor {
  private readonly intervalMs: number;
  private readonly settleMs: number;
  private readonly notifier: AlertNotifier | undefined;
  private readonly log: NonNullable<AlertMonitorOptions['log']>;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<unknown> | undefined;
  private stopped = true;
  private lastLogged = '';
  /** minutes read, by start: settled and applied when read, so they do not change (readMinutes) */
  private readonly settledMinutes = new Map<number, MinuteSeriesTotals[]>();
  /** the end of the last window evaluated: a round never goes back before it */
  private lastWindowEnd = Number.NEGATIVE_INFINITY;
  private readonly abort = new AbortController();
  /** the stats the rules read: the buckets only when a rule watches a latency (they are most of a minute's fields) */
  private readonly neededStats: ReadonlySet<RealtimeStat>;
  private readonly counters: AlertMonitorStats = { rounds: 0, minutesRead: 0, failedRounds: 0, opened: 0, resolved: 0, notified: 0, failedNotifications: 0, lastError: undefined };

  constructor(private readonly options: AlertMonitorOptions) {
    this.intervalMs = options.intervalMs ?? 30_000;
    this.settleMs = options.settleMs ?? 30_000;
    this.neededStats = new Set([...RATE_STATS, ...(options.rules.some(isLatencyRule) ? LATENCY_STATS : [])]);
    this.notifier =
      options.webhookUrl === undefined
        ? undefined
        : new AlertNotifier(options.mysql, options.webhookUrl, { timeoutMs: options.webhookTimeoutMs, signal: this.abort.signal, log: (level, message) => this.log(level, message) });
    this.log = options.log ?? ((level, message) => (level === 'info' ? process.stdout : process.stderr).write(`${new Date().toISOString()} ${level.toUpperCase()} alerts: ${message}\n`));
  }

  stats(): AlertMonitorStats {
    return { ...this.counters };
  }

  /** Runs a round now and then every interval, until stop(). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const tick = (): void => {
      this.round = this.runRound().finally(() => {
        this.round = undefined;
        if (!this.stopped) {
          this.timer = setTimeout(tick, this.intervalMs);
          this.timer.unref();
        }
      });
    };
    tick();
  }

  /**
   * Ends a running round at its next step (a webhook call in flight is cut off: it is sent again
   * next round, by whichever aggregator holds the lease), then gives the lease up.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    if (this.timer !== undefined) clearTimeout(this.timer);
    await this.round;
    try {
      await this.options.redis.eval(RELEASE_LEASE, 1, this.options.keys.alertLease, this.options.owner);
    } catch {
      // the lease expires by itself
    }
  }

  /** One round, its failure logged (once until it changes) and counted rather than thrown. */
  async runRound(nowMs = Date.now()): Promise<AlertRoundResult | undefined> {
    try {
      const result = await this.evaluate(nowMs);
      if (result.evaluated && this.lastLogged !== '') {
        this.log('info', 'evaluating again');
        this.lastLogged = '';
      }
      return result;
    } catch (err) {
      this.counters.failedRounds++;
      const reason = (err as Error).message?.split('\n')[0] ?? String(err);
      this.counters.lastError = reason;
      this.logOnce(`round skipped, alerts left as they were: ${reason}`);
      return undefined;
    }
  }

  /** Takes the lease, or renews it: whether this monitor holds it now. */
  private async holdLease(): Promise<boolean> {
    const { redis, keys, owner } = this.options;
    return (await redis.eval(TAKE_LEASE, 1, keys.alertLease, owner, String(this.intervalMs * 3))) === 1;
  }

  /**
   * Takes or renews the lease, then evaluates the rules over the minutes settled at `nowMs` (and
   * applied) and updates the alerts. Throws when Redis or MySQL fails (nothing is resolved then).
   */
  async evaluate(nowMs = Date.now()): Promise<AlertRoundResult> {
    const skipped = (windowEnd?: number): AlertRoundResult => ({ evaluated: false, windowEnd, opened: 0, resolved: 0, open: 0, notified: 0 });
    const { redis, keys, rules } = this.options;
    if (this.abort.signal.aborted || !(await this.holdLease())) return skipped();
    this.counters.rounds++;
    let windowEnd = minuteStart(nowMs - this.settleMs);
    const oldest = await oldestUnappliedEntryMs(redis, keys, this.options.group ?? 'aggregators');
    // an entry added at t holds data from t - settleMs on: what came before is in the view
    if (oldest !== undefined) windowEnd = Math.min(windowEnd, minuteStart(oldest - this.settleMs));
    if (windowEnd < this.lastWindowEnd) {
      this.logOnce(`the aggregators have not applied the stream's entries from ${new Date(oldest ?? 0).toISOString()} on: alerts wait for them`);
      return skipped(windowEnd);
    }
    this.lastWindowEnd = windowEnd;
    const minutes = await this.readMinutes(windowEnd - minutesNeeded(rules) * MINUTE_MS, windowEnd);
    const holding = evaluateAlertRules(rules, minutes, windowEnd);
    // the lease may have passed on while the minutes were read: then the new holder decides
    if (this.abort.signal.aborted || !(await this.holdLease())) return skipped(windowEnd);
    const { opened, resolved, open } = await this.reconcile(holding, windowEnd);
    this.counters.opened += opened;
    this.counters.resolved += resolved;
    if (opened > 0 || resolved > 0) this.log('info', `${opened} opened, ${resolved} resolved, ${open} open`);
    let notified = 0;
    if (this.notifier !== undefined) {
      const r = await this.notifier.notifyPending({ stillHolding: () => this.holdLease(), untilMs: Date.now() + this.intervalMs });
      notified = r.sent;
      this.counters.notified += r.sent;
      this.counters.failedNotifications += r.failures;
    }
    return { evaluated: true, windowEnd, opened, resolved, open, notified };
  }

  private logOnce(message: string): void {
    if (message !== this.lastLogged) this.log('warn', message);
    this.lastLogged = message;
  }

  /**
   * The realtime view's minutes in [from, to): one pipeline of HGETALLs, no scan. `to` is a
   * window's end, so every minute read has settled and been applied: it is kept, and the next
   * rounds read only the minutes they have not (a round a minute on reads one).
   */
  private async readMinutes(from: number, to: number): Promise<Map<number, MinuteSeriesTotals[]>> {
    for (const m of this.settledMinutes.keys()) if (m < from) this.settledMinutes.delete(m);
    const pipeline = this.options.redis.pipeline();
    const starts: number[] = [];
    for (let m = from; m < to; m += MINUTE_MS) {
      if (this.settledMinutes.has(m)) continue;
      starts.push(m);
      queueRealtimeHash(pipeline, this.options.keys.realtimeMinute(m));
    }
    const results = starts.length === 0 ? [] : ((await pipeline.exec()) ?? []);
    this.counters.minutesRead += starts.length;
    const out = this.settledMinutes;
    // one reader for the minutes read: a series' fields are worked out in the first minute that
    // has them, and the series of a stat no rule reads is not parsed (its JSON is most of the work)
    const reader = new RealtimeViewReader<SeriesIdentityKey>({ stats: this.neededStats, series: (identity) => identity });
    for (let i = 0; i < results.length; i++) {
      const [err, reply] = results[i] as [Error | null, unknown];
      if (err) throw err;
      // the aggregator's own work shares this event loop: a hundred minutes of thousands of
      // series are read a minute at a time
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const series = new Map<SeriesIdentityKey, SeriesRead>();
      reader.read(reply, (identity, stat, n, bucket) => {
        if (!Number.isFinite(n)) return;
        let s = series.get(identity);
        if (s === undefined) {
          s = { ...identity, requests: 0, inboundBytes: 0, outboundBytes: 0, errors: 0 };
          series.set(identity, s);
        }
        if (stat === 'requests') s.requests += n;
        else if (stat === 'inboundBytes') s.inboundBytes += n;
        else if (stat === 'outboundBytes') s.outboundBytes += n;
        else if (stat === 'errors') s.errors += n;
        else if (stat === 'durationBucket' && bucket !== undefined) {
          s.durationBuckets ??= new Array<number>(REALTIME_DURATION_BUCKETS).fill(0);
          s.durationBuckets[bucket] = (s.durationBuckets[bucket] as number) + n;
        } else if (stat === 'minDurationMs') s.minDurationMs = Math.min(s.minDurationMs ?? n, n);
        else if (stat === 'maxDurationMs') s.maxDurationMs = Math.max(s.maxDurationMs ?? n, n);
      });
      out.set(starts[i] as number, [...series.values()]);
    }
    return out;
  }

  /**
   * Opens the alerts of conditions that start to hold, raises the peak and the held-until time of
   * those that go on, and resolves those whose condition has not held for their rule's
   * resolveAfterMinutes of data time (or whose rule is gone).
   */
  private async reconcile(holding: readonly AlertCondition[], windowEnd: number): Promise<{ opened: number; resolved: number; open: number }> {
    const a = bandwidthAlerts;
    const db = this.options.mysql.db;
    const windowEndDate = new Date(windowEnd);
    const openRows = await db.select({ id: a.id, openKey: a.openKey, rule: a.rule, heldUntil: a.heldUntil }).from(a).where(isNotNull(a.openKey));
    const openByKey = new Map(openRows.map((r) => [r.openKey as string, r]));
    let opened = 0;
    for (const c of holding) {
      const known = openByKey.get(c.key);
      if (known !== undefined) {
        openByKey.delete(c.key);
        await db
          .update(a)
          .set({ peakValue: sql`GREATEST(COALESCE(${a.peakValue}, 0), ${c.value})`, heldUntil: sql`GREATEST(COALESCE(${a.heldUntil}, ${windowEndDate}), ${windowEndDate})` })
          .where(eq(a.id, known.id));
        continue;
      }
      const [result] = await db
        .insert(a)
        .values({
          alertType: c.rule.type,
          severity: c.rule.severity,
          message: c.message,
          metricValue: c.value,
          thresholdValue: c.threshold,
          service: c.service,
          endpoint: c.endpoint,
          method: c.method,
          protocol: c.protocol === 'http' || c.protocol === 'webrtc' ? c.protocol : null,
          rule: c.rule.name,
          metric: c.rule.metric,
          peakValue: c.value,
          heldUntil: windowEndDate,
          openKey: c.key,
        })
        // another evaluator opened it a moment ago (a lease that changed hands mid-round)
        .onDuplicateKeyUpdate({ set: { peakValue: sql`GREATEST(COALESCE(${a.peakValue}, 0), ${c.value})` } });
      if (result.affectedRows === 1) opened++;
    }
    const rules = new Map(this.options.rules.map((r) => [r.name, r]));
    let resolved = 0;
    for (const quiet of openByKey.values()) {
      const rule = rules.get(quiet.rule);
      // quiet for fewer minutes than its rule asks (a window older than when it last held counts none)
      if (rule !== undefined && quiet.heldUntil !== null && windowEnd - quiet.heldUntil.getTime() < rule.resolveAfterMinutes * MINUTE_MS) continue;
      const [result] = await db
        .update(a)
        .set({ resolvedAt: sql`CURRENT_TIMESTAMP`, openKey: null })
        .where(and(eq(a.id, quiet.id), eq(a.openKey, quiet.openKey as string)));
      resolved += result.affectedRows;
    }
    return { opened, resolved, open: openRows.length + opened - resolved };
  }
}
