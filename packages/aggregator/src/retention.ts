/**
 * Retention: hourly rows (metrics_hourly, metrics_client_hourly, metrics_users_hourly) of days
 * older than the configured number, and batch ledger ids older than the ledger's retention, are
 * deleted in small chunks (DELETE ... ORDER BY ... LIMIT n, each its own short transaction, oldest
 * first), never in one large delete. metrics_daily is kept.
 *
 * Hourly retention is by whole UTC days: a day's hourly rows go together, so metrics_daily, which
 * a flush recomputes from the day's hourly rows, is never recomputed from part of a day. The
 * aggregator dead-letters data older than the cutoff rather than writing rows retention would
 * delete again (see Aggregator).
 *
 * The ledger is what makes a redelivered batch count once, so its ids are kept for
 * `ledgerDays` after the oldest entry still in the stream was added, not only after now: an
 * aggregator that was down for days still finds the ids of what it applied before.
 */
import { DAY_MS, dayStart } from '@otel-bandwidth/core';
import type { MysqlConnection } from '@otel-bandwidth/storage';
import type { ResultSetHeader, RowDataPacket } from 'mysql2';

export const DEFAULT_RETENTION_DAYS = 90;
export const DEFAULT_LEDGER_RETENTION_DAYS = 7;
export const DEFAULT_RETENTION_CHUNK_ROWS = 5000;
export const DEFAULT_RETENTION_INTERVAL_MS = 5 * 60_000;

export interface RetentionSettings {
  /** days of hourly rows kept before today's (UTC); 0 keeps them for ever */
  hourlyDays: number;
  /** days an applied batch id stays in the ledger; 0 keeps them for ever */
  ledgerDays: number;
  /** rows per DELETE. Default 5000. */
  chunkRows?: number;
}

export type RetentionTable = 'metrics_hourly' | 'metrics_client_hourly' | 'metrics_users_hourly' | 'bandwidth_alerts' | 'metrics_batch_ledger';

export interface RetentionResult {
  /** hourly rows before this were deleted (undefined: hourly retention is off) */
  hourlyCutoff: Date | undefined;
  /** ledger ids applied before this were deleted (undefined: ledger retention is off) */
  ledgerCutoff: Date | undefined;
  deleted: Record<RetentionTable, number>;
  /** DELETE statements run, each its own transaction */
  deletes: number;
}

export interface RetentionRunOptions {
  nowMs?: number;
  /** when the oldest entry still in the stream was added (ms); holds the ledger cutoff back */
  oldestStreamEntryMs?: number;
  /** checked between chunks: true stops the run (the rest is deleted next time) */
  shouldStop?: () => boolean;
}

/** Hourly rows before this are expired: the start of the UTC day `days` days before today. */
export function hourlyRetentionCutoff(nowMs: number, days: number): number | undefined {
  if (days <= 0) return undefined;
  return dayStart(nowMs) - days * DAY_MS;
}

/** Ledger ids applied before this are expired: `days` before now or before the stream's oldest entry. */
export function ledgerRetentionCutoff(nowMs: number, days: number, oldestStreamEntryMs?: number): number | undefined {
  if (days <= 0) return undefined;
  const from = oldestStreamEntryMs === undefined ? nowMs : Math.min(nowMs, oldestStreamEntryMs);
  return from - days * DAY_MS;
}

const TABLES: ReadonlyArray<{ table: RetentionTable; column: string; order: string; kind: 'hourly' | 'ledger' }> = [
  // ORDER BY the time index and the primary key: the oldest rows first, in a deterministic order
  { table: 'metrics_hourly', column: 'hour_start', order: '`hour_start`, `id`', kind: 'hourly' },
  { table: 'metrics_client_hourly', column: 'hour_start', order: '`hour_start`, `id`', kind: 'hourly' },
  { table: 'metrics_users_hourly', column: 'hour_start', order: '`hour_start`, `service`, `user_id`', kind: 'hourly' },
  // alerts resolved before the cutoff (an open one has no resolved_at, and is kept)
  { table: 'bandwidth_alerts', column: 'resolved_at', order: '`resolved_at`, `id`', kind: 'hourly' },
  { table: 'metrics_batch_ledger', column: 'applied_at', order: '`applied_at`, `batch_id`', kind: 'ledger' },
];

/** Deletes what is past its retention, chunk by chunk. */
export async function applyRetention(conn: MysqlConnection, settings: RetentionSettings, options: RetentionRunOptions = {}): Promise<RetentionResult> {
  const nowMs = options.nowMs ?? Date.now();
  const chunkRows = Math.max(1, Math.floor(settings.chunkRows ?? DEFAULT_RETENTION_CHUNK_ROWS));
  const hourly = hourlyRetentionCutoff(nowMs, settings.hourlyDays);
  const ledger = ledgerRetentionCutoff(nowMs, settings.ledgerDays, options.oldestStreamEntryMs);
  const result: RetentionResult = {
    hourlyCutoff: hourly === undefined ? undefined : new Date(hourly),
    ledgerCutoff: ledger === undefined ? undefined : new Date(ledger),
    deleted: { metrics_hourly: 0, metrics_client_hourly: 0, metrics_users_hourly: 0, bandwidth_alerts: 0, metrics_batch_ledger: 0 },
    deletes: 0,
  };
  for (const t of TABLES) {
    const cutoffMs = t.kind === 'hourly' ? hourly : ledger;
    if (cutoffMs === undefined) continue;
    const cutoff = new Date(cutoffMs);
    // a read first: a DELETE that finds nothing would still be a write statement
    const [probe] = await conn.pool.query<RowDataPacket[]>(`SELECT 1 FROM \`${t.table}\` WHERE \`${t.column}\` < ? LIMIT 1`, [cutoff]);
    if (probe.length === 0) continue;
    for (;;) {
      if (options.shouldStop?.()) return result;
      const [header] = await conn.pool.query<ResultSetHeader>(
        `DELETE FROM \`${t.table}\` WHERE \`${t.column}\` < ? ORDER BY ${t.order} LIMIT ${chunkRows}`,
        [cutoff],
      );
      result.deletes++;
      result.deleted[t.table] += header.affectedRows;
      if (header.affectedRows < chunkRows) break;
      // let the flushes' transactions in between the chunks
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }
  return result;
}
