/**
 * Tells a webhook of alerts opened and resolved: `bandwidth_alerts.notified` is the outbox. A row
 * whose state (open, or resolved) the webhook has not been told of is sent, and marked once the
 * webhook answered 2xx. An alert opened and resolved between two rounds is sent once, resolved.
 * Alerts resolved more than a day ago are not sent (a webhook configured later is not flooded
 * with history).
 *
 * Failures, per row (notify_attempts, next_notify_at): a refusal of that alert (a 4xx other than
 * 408 and 429) puts it back, and the round goes on with the others, so one alert the webhook will
 * not take does not hold the rest up; after MAX_REFUSALS refusals it is given up, and logged. A
 * webhook that is down (no answer, a timeout, a 5xx, 408 or 429) ends the round: that row is put
 * back and the others wait for the next round. Backoff: 30 s, doubling, at most 10 minutes.
 *
 * The body is JSON: `{ event: "alert.opened" | "alert.resolved", text, alert: {...} }`. `text` is a
 * one-line summary, so a Slack or Mattermost incoming webhook shows it as it is. A URL with
 * user:password sends them as HTTP Basic authentication; logs name only the URL's origin.
 */
import { bandwidthAlerts, type BandwidthAlertRow, type MysqlConnection } from '@otel-bandwidth/storage';
import { and, asc, eq, sql } from 'drizzle-orm';

export interface AlertWebhookPayload {
  event: 'alert.opened' | 'alert.resolved';
  text: string;
  alert: {
    id: number;
    rule: string;
    type: string;
    severity: string;
    /** what value, threshold and peak measure: a rate a second, or a latency percentile in ms (p50, p95, p99) */
    metric: string | null;
    service: string | null;
    method: string | null;
    endpoint: string | null;
    message: string;
    value: number;
    threshold: number | null;
    peak: number | null;
    openedAt: string;
    resolvedAt: string | null;
  };
}

export interface NotifyResult {
  sent: number;
  /** calls that failed or were refused this round */
  failures: number;
}

export interface NotifyRound {
  /** asked before each call: false ends the round (another aggregator holds the lease now) */
  stillHolding?: () => Promise<boolean>;
  /** no call is begun after this time (ms) */
  untilMs?: number;
}

/** Rows sent per round at most. */
const ROUND_LIMIT = 50;
/** Refusals of one alert's state before it is given up. */
export const MAX_REFUSALS = 5;
const FIRST_BACKOFF_MS = 30_000;
const MAX_BACKOFF_MS = 600_000;

export function webhookPayload(row: BandwidthAlertRow): AlertWebhookPayload {
  const resolved = row.resolvedAt !== null;
  return {
    event: resolved ? 'alert.resolved' : 'alert.opened',
    text: `${resolved ? 'RESOLVED' : row.severity.toUpperCase()} ${row.rule}: ${row.message}`,
    alert: {
      id: row.id,
      rule: row.rule,
      type: row.alertType,
      severity: row.severity,
      metric: row.metric,
      service: row.service,
      method: row.method,
      endpoint: row.endpoint,
      message: row.message,
      value: row.metricValue,
      threshold: row.thresholdValue,
      peak: row.peakValue,
      openedAt: row.createdAt.toISOString(),
      resolvedAt: row.resolvedAt === null ? null : row.resolvedAt.toISOString(),
    },
  };
}

/** What a failed call says: whether the webhook refused this alert (4xx) or is down, and why. */
interface Failure {
  refused: boolean;
  why: string;
}

/** The URL without its user:password, those as a Basic authorization header, and the origin for logs. */
export function webhookTarget(url: string): { url: string; authorization: string | undefined; origin: string } {
  const u = new URL(url);
  const authorization = u.username || u.password ? `Basic ${Buffer.from(`${decodeURIComponent(u.username)}:${decodeURIComponent(u.password)}`).toString('base64')}` : undefined;
  u.username = '';
  u.password = '';
  return { url: u.toString(), authorization, origin: u.origin };
}

export class AlertNotifier {
  private readonly target: ReturnType<typeof webhookTarget>;
  private readonly timeoutMs: number;
  private readonly signal: AbortSignal | undefined;
  private readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;
  private lastDown = '';

  constructor(
    private readonly mysql: MysqlConnection,
    url: string,
    options: { timeoutMs?: number; signal?: AbortSignal; log?: (level: 'info' | 'warn' | 'error', message: string) => void } = {},
  ) {
    this.target = webhookTarget(url);
    this.timeoutMs = options.timeoutMs ?? 5000;
    this.signal = options.signal;
    this.log = options.log ?? (() => undefined);
  }

  /** Sends what the webhook has not been told and may be tried now, oldest first (see the file's comment). */
  async notifyPending(round: NotifyRound = {}): Promise<NotifyResult> {
    const a = bandwidthAlerts;
    const rows = await this.mysql.db
      .select()
      .from(a)
      .where(
        and(
          // (an index on notified serves this)
          sql`(${a.notified} = 'none' OR (${a.notified} = 'opened' AND ${a.resolvedAt} IS NOT NULL))`,
          sql`(${a.nextNotifyAt} IS NULL OR ${a.nextNotifyAt} <= UTC_TIMESTAMP())`,
          sql`(${a.resolvedAt} IS NULL OR ${a.resolvedAt} > NOW() - INTERVAL 1 DAY)`,
        ),
      )
      .orderBy(asc(a.id))
      .limit(ROUND_LIMIT);
    const result: NotifyResult = { sent: 0, failures: 0 };
    for (const row of rows) {
      if (this.signal?.aborted || (round.untilMs !== undefined && Date.now() >= round.untilMs)) break;
      if (round.stillHolding !== undefined && !(await round.stillHolding())) break;
      const told = row.resolvedAt === null ? 'opened' : 'resolved';
      // only while the row is as it was read: a resolution meanwhile is sent next round
      const unchanged = and(eq(a.id, row.id), told === 'opened' ? sql`${a.resolvedAt} IS NULL` : sql`${a.resolvedAt} IS NOT NULL`);
      const failure = await this.post(webhookPayload(row));
      if (failure === undefined) {
        await this.mysql.db.update(a).set({ notified: told, notifyAttempts: 0, nextNotifyAt: null }).where(unchanged);
        result.sent++;
        if (this.lastDown !== '') this.log('info', `webhook ${this.target.origin}/… answers again`);
        this.lastDown = '';
        continue;
      }
      if (this.signal?.aborted) break;
      result.failures++;
      const attempts = row.notifyAttempts + 1;
      if (failure.refused && attempts >= MAX_REFUSALS) {
        await this.mysql.db.update(a).set({ notified: told, notifyAttempts: attempts, nextNotifyAt: null }).where(unchanged);
        this.log('error', `webhook ${this.target.origin}/… refused alert ${row.id} (${told}) ${attempts} times (${failure.why}): given up`);
        continue;
      }
      const backoff = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (attempts - 1));
      await this.mysql.db
        .update(a)
        .set({ notifyAttempts: attempts, nextNotifyAt: sql`UTC_TIMESTAMP() + INTERVAL ${Math.round(backoff / 1000)} SECOND` })
        .where(unchanged);
      if (failure.refused) {
        this.log('warn', `webhook ${this.target.origin}/… refused alert ${row.id} (${told}): ${failure.why}; tried again in ${backoff / 1000} s`);
        continue;
      }
      if (failure.why !== this.lastDown) this.log('warn', `webhook ${this.target.origin}/… failed (${failure.why}): what it has not been told is sent when it answers`);
      this.lastDown = failure.why;
      break;
    }
    return result;
  }

  private async post(payload: AlertWebhookPayload): Promise<Failure | undefined> {
    const timeout = AbortSignal.timeout(this.timeoutMs);
    try {
      const res = await fetch(this.target.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': 'otel-bandwidth-alerts',
          ...(this.target.authorization === undefined ? {} : { authorization: this.target.authorization }),
        },
        body: JSON.stringify(payload),
        signal: this.signal === undefined ? timeout : AbortSignal.any([timeout, this.signal]),
        redirect: 'error',
      });
      // the body is not needed; reading it frees the connection
      await res.arrayBuffer().catch(() => undefined);
      if (res.ok) return undefined;
      return { refused: res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429, why: `HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: unknown } };
      if (timeout.aborted) return { refused: false, why: `no answer in ${this.timeoutMs} ms` };
      if (this.signal?.aborted) return { refused: false, why: 'stopped' };
      // never the error's own message: fetch's may quote the URL, and a URL may hold a token
      return { refused: false, why: typeof e.cause?.code === 'string' ? e.cause.code : e.name };
    }
  }
}
