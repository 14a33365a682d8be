/**
 * Raises and resolves bandwidth alerts: every interval, the aggregator holding the alert lease
 * reads the realtime view's settled minutes, evaluates the rules (alert-evaluation.ts) and brings
 * `bandwidth_alerts` in line: a condition that starts to hold opens one alert (its `open_key` is
 * unique while open, so two evaluators cannot open it twice), one that goes on holding raises its
 * peak, and an open alert whose condition no longer holds, or whose rule is gone, is resolved.
 * Then the webhook is told (alert-notifier.ts).
 *
 * Any number of aggregators may run it: a lease in Redis (SET NX with an expiry, renewed by its
 * holder) lets one evaluate at a time, and another takes over within three intervals of its death.
 * A minute counts once it has settled: `settleMs` after its end, by when the exporters (every 5 s
 * by default) and a flush (5 s) have brought it. When Redis or MySQL fails, the round is skipped
 * and nothing is resolved for want of data.
 */
import { MINUTE_MS, minuteStart, parseRealtimeField, type RedisKeys } from '@otel-bandwidth/core';
import { bandwidthAlerts, type MysqlConnection } from '@otel-bandwidth/storage';
import { and, eq, isNotNull, sql } from 'drizzle-orm';
import type { Cluster, Redis } from 'ioredis';
import { evaluateAlertRules, type AlertCondition, type MinuteSeriesTotals } from './alert-evaluation';
import { AlertNotifier } from './alert-notifier';
import { minutesNeeded, type AlertRule } from './alert-rules';

export interface AlertMonitorOptions {
  redis: Redis | Cluster;
  mysql: MysqlConnection;
  keys: RedisKeys;
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
  /** false when another aggregator holds the lease (nothing was done) */
  evaluated: boolean;
  opened: number;
  resolved: number;
  /** alerts that stay open */
  open: number;
  notified: number;
}

export interface AlertMonitorStats {
  rounds: number;
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

export class AlertMonitor {
  private readonly intervalMs: number;
  private readonly settleMs: number;
  private readonly notifier: AlertNotifier | undefined;
  private readonly log: NonNullable<AlertMonitorOptions['log']>;
  private timer: NodeJS.Timeout | undefined;
  private round: Promise<unknown> | undefined;
  private stopped = true;
  private lastLogged = '';
  private readonly counters: AlertMonitorStats = { rounds: 0, failedRounds: 0, opened: 0, resolved: 0, notified: 0, failedNotifications: 0, lastError: undefined };

  constructor(private readonly options: AlertMonitorOptions) {
    this.intervalMs = options.intervalMs ?? 30_000;
    this.settleMs = options.settleMs ?? 30_000;
    this.notifier = options.webhookUrl === undefined ? undefined : new AlertNotifier(options.mysql, options.webhookUrl, options.webhookTimeoutMs);
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

  /** Waits for a running round, then gives the lease up so another aggregator takes over at once. */
  async stop(): Promise<void> {
    this.stopped = true;
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
      if (this.lastLogged !== '') this.log('info', 'evaluating again');
      this.lastLogged = '';
      return result;
    } catch (err) {
      this.counters.failedRounds++;
      const reason = (err as Error).message?.split('\n')[0] ?? String(err);
      this.counters.lastError = reason;
      if (reason !== this.lastLogged) this.log('warn', `round skipped, alerts left as they were: ${reason}`);
      this.lastLogged = reason;
      return undefined;
    }
  }

  /**
   * Takes or renews the lease, then evaluates the rules over the minutes settled at `nowMs` and
   * updates the alerts. Throws when Redis or MySQL fails (nothing is resolved then).
   */
  async evaluate(nowMs = Date.now()): Promise<AlertRoundResult> {
    const { redis, keys, owner, rules } = this.options;
    const held = await redis.eval(TAKE_LEASE, 1, keys.alertLease, owner, String(this.intervalMs * 3));
    if (held !== 1) return { evaluated: false, opened: 0, resolved: 0, open: 0, notified: 0 };
    this.counters.rounds++;
    const windowEnd = minuteStart(nowMs - this.settleMs);
    const minutes = await this.readMinutes(windowEnd - minutesNeeded(rules) * MINUTE_MS, windowEnd);
    const holding = evaluateAlertRules(rules, minutes, windowEnd);
    const { opened, resolved, open } = await this.reconcile(holding);
    this.counters.opened += opened;
    this.counters.resolved += resolved;
    if (opened > 0 || resolved > 0) this.log('info', `${opened} opened, ${resolved} resolved, ${open} open`);
    let notified = 0;
    if (this.notifier !== undefined) {
      const r = await this.notifier.notifyPending();
      notified = r.sent;
      this.counters.notified += r.sent;
      if (r.failed !== undefined) {
        this.counters.failedNotifications++;
        this.log('warn', `webhook ${redactedUrl(this.options.webhookUrl ?? '')} failed (${r.failed}); told of ${r.sent} this round, the rest is sent next round`);
      }
    }
    return { evaluated: true, opened, resolved, open, notified };
  }

  /** The realtime view's minutes in [from, to): one pipeline of HGETALLs, no scan. */
  private async readMinutes(from: number, to: number): Promise<Map<number, MinuteSeriesTotals[]>> {
    const pipeline = this.options.redis.pipeline();
    const starts: number[] = [];
    for (let m = from; m < to; m += MINUTE_MS) {
      starts.push(m);
      pipeline.hgetall(this.options.keys.realtimeMinute(m));
    }
    const results = (await pipeline.exec()) ?? [];
    const out = new Map<number, MinuteSeriesTotals[]>();
    for (let i = 0; i < results.length; i++) {
      const [err, hash] = results[i] as [Error | null, unknown];
      if (err) throw err;
      // the aggregator's own work shares this event loop: a hundred minutes of thousands of
      // series are parsed a minute at a time
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      const series = new Map<string, MinuteSeriesTotals>();
      for (const [field, value] of Object.entries((hash ?? {}) as Record<string, string>)) {
        const parsed = parseRealtimeField(field);
        if (parsed === undefined) continue;
        const code = field.slice(field.indexOf('|') + 1);
        let s = series.get(code);
        if (s === undefined) {
          s = { ...parsed.series, requests: 0, inboundBytes: 0, outboundBytes: 0, errors: 0 };
          series.set(code, s);
        }
        const n = Number(value);
        if (!Number.isFinite(n)) continue;
        if (parsed.stat === 'requests') s.requests += n;
        else if (parsed.stat === 'inboundBytes') s.inboundBytes += n;
        else if (parsed.stat === 'outboundBytes') s.outboundBytes += n;
        else if (parsed.stat === 'errors') s.errors += n;
      }
      if (series.size > 0) out.set(starts[i] as number, [...series.values()]);
    }
    return out;
  }

  /** Opens, raises and resolves alerts so that the open ones are exactly `holding`. */
  private async reconcile(holding: readonly AlertCondition[]): Promise<{ opened: number; resolved: number; open: number }> {
    const a = bandwidthAlerts;
    const db = this.options.mysql.db;
    const openRows = await db.select({ id: a.id, openKey: a.openKey, peak: a.peakValue }).from(a).where(isNotNull(a.openKey));
    const openByKey = new Map(openRows.map((r) => [r.openKey as string, r]));
    let opened = 0;
    for (const c of holding) {
      const value = Math.round(c.value);
      const known = openByKey.get(c.key);
      if (known !== undefined) {
        openByKey.delete(c.key);
        if (known.peak === null || value > known.peak) await db.update(a).set({ peakValue: value }).where(eq(a.id, known.id));
        continue;
      }
      const [result] = await db
        .insert(a)
        .values({
          alertType: c.rule.type,
          severity: c.rule.severity,
          message: c.message,
          metricValue: value,
          thresholdValue: Math.round(c.threshold),
          service: c.service,
          endpoint: c.endpoint,
          method: c.method,
          protocol: c.protocol === 'http' || c.protocol === 'webrtc' ? c.protocol : null,
          rule: c.rule.name,
          metric: c.rule.metric,
          peakValue: value,
          openKey: c.key,
        })
        // another evaluator opened it a moment ago (a lease that changed hands mid-round)
        .onDuplicateKeyUpdate({ set: { peakValue: sql`GREATEST(COALESCE(${a.peakValue}, 0), ${value})` } });
      if (result.affectedRows === 1) opened++;
    }
    let resolved = 0;
    for (const gone of openByKey.values()) {
      const [result] = await db
        .update(a)
        .set({ resolvedAt: sql`CURRENT_TIMESTAMP`, openKey: null })
        .where(and(eq(a.id, gone.id), eq(a.openKey, gone.openKey as string)));
      resolved += result.affectedRows;
    }
    return { opened, resolved, open: holding.length };
  }
}

function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname.length > 1 ? '/…' : '/'}`;
  } catch {
    return 'URL';
  }
}
