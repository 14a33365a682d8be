/**
 * Tells a webhook of alerts opened and resolved, at least once each: `bandwidth_alerts.notified`
 * is the outbox. A row whose state (open, or resolved) the webhook has not been told of is sent,
 * and marked once the webhook answered 2xx; a failure leaves it for the next round. An alert
 * opened and resolved between two rounds is sent once, resolved. Alerts resolved more than a day
 * ago are not sent (a webhook configured later is not flooded with history).
 *
 * The body is JSON: `{ event: "alert.opened" | "alert.resolved", text, alert: {...} }`. `text` is a
 * one-line summary, so a Slack or Mattermost incoming webhook shows it as it is.
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
    /** what value, threshold and peak measure, a second */
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
  /** the webhook's answer or error when a send failed (the rest wait for the next round) */
  failed: string | undefined;
}

/** Rows sent per round at most. */
const ROUND_LIMIT = 50;

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

export class AlertNotifier {
  constructor(
    private readonly mysql: MysqlConnection,
    private readonly url: string,
    private readonly timeoutMs = 5000,
  ) {}

  /** Sends what the webhook has not been told, oldest first, until one send fails. */
  async notifyPending(): Promise<NotifyResult> {
    const a = bandwidthAlerts;
    const state = sql`IF(${a.resolvedAt} IS NULL, 'opened', 'resolved')`;
    const rows = await this.mysql.db
      .select()
      .from(a)
      .where(and(sql`${a.notified} <> ${state}`, sql`(${a.resolvedAt} IS NULL OR ${a.resolvedAt} > NOW() - INTERVAL 1 DAY)`))
      .orderBy(asc(a.id))
      .limit(ROUND_LIMIT);
    let sent = 0;
    for (const row of rows) {
      const payload = webhookPayload(row);
      const failed = await this.post(payload);
      if (failed !== undefined) return { sent, failed };
      const told = row.resolvedAt === null ? 'opened' : 'resolved';
      // only if it has not changed meanwhile: a resolution after the read is sent next round
      await this.mysql.db
        .update(a)
        .set({ notified: told })
        .where(and(eq(a.id, row.id), told === 'opened' ? sql`${a.resolvedAt} IS NULL` : sql`${a.resolvedAt} IS NOT NULL`));
      sent++;
    }
    return { sent, failed: undefined };
  }

  private async post(payload: AlertWebhookPayload): Promise<string | undefined> {
    try {
      const res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'user-agent': 'otel-bandwidth-alerts' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(this.timeoutMs),
        redirect: 'error',
      });
      // the body is not needed; reading it frees the connection
      await res.arrayBuffer().catch(() => undefined);
      return res.ok ? undefined : `HTTP ${res.status}`;
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (e.name === 'TimeoutError') return `no answer in ${this.timeoutMs} ms`;
      return e.cause?.code ?? e.cause?.message ?? e.message;
    }
  }
}
