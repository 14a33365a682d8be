/**
 * Writes a flush to MySQL in one transaction: the batch ledger (so a batch delivered twice is
 * applied once), multi-row additive upserts into metrics_hourly, and metrics_daily recomputed
 * for the days touched. Upserts add, so several aggregators can write at once.
 *
 * The totals are merged before the transaction starts (applyMerged): the transaction only
 * writes. When the ledger shows that some batches were applied already, the totals of the others
 * are rebuilt inside the transaction, so a batch is still counted once.
 */
import { randomBytes } from 'node:crypto';
import { DAY_MS, dayStart, type MetricBatch } from '@otel-bandwidth/core';
import {
  DURATION_BUCKET_COLUMNS,
  metricsBatchLedger,
  metricsClientHourly,
  metricsHourly,
  metricsUsersHourly,
  type MetricsHourlyInsert,
  type MysqlConnection,
  type StorageDatabase,
} from '@otel-bandwidth/storage';
import { and, eq, inArray, sql, type SQL } from 'drizzle-orm';
import { BatchRollup, cutText, type BucketedTotals } from './batch-rollup';

export interface StreamBatch {
  /** the stream entry id */
  streamId: string;
  batch: MetricBatch;
}

/** A batch of a flush as the ledger records it. */
export interface LedgerEntry {
  /** the stream entry id */
  streamId: string;
  batchId: string;
  service: string;
  points: number;
}

export function ledgerEntryOf(b: StreamBatch): LedgerEntry {
  return {
    streamId: b.streamId,
    batchId: b.batch.batchId,
    service: String(b.batch.resource['service.name'] ?? ''),
    points: b.batch.metrics.reduce((n, m) => n + m.points.length, 0),
  };
}

/** The totals of some of a flush's entries, rebuilt from their content. */
export interface RebuiltRollup {
  rollup: BatchRollup;
  /** entries whose content is gone: they are left out of the ledger and not applied */
  missing: LedgerEntry[];
}

/** A flush whose totals were merged before it is written. */
export interface MergedFlush {
  /** one per batch id */
  entries: readonly LedgerEntry[];
  /** the totals of every entry */
  rollup: BatchRollup;
  /** the totals of only these entries (called when the ledger already holds some of the others) */
  rebuild(fresh: readonly LedgerEntry[]): Promise<RebuiltRollup> | RebuiltRollup;
}

export interface MergedFlushResult {
  /** entries this flush applied */
  applied: LedgerEntry[];
  /** entries skipped because the ledger already had them */
  duplicates: LedgerEntry[];
  /** entries whose content rebuild() could not find: neither applied nor in the ledger */
  missing: LedgerEntry[];
  /** totals of the applied entries */
  rollup: BatchRollup;
  /** transactions attempted (more than 1 when a deadlock made it retry) */
  attempts: number;
}

export interface FlushResult {
  /** batches applied by this flush */
  applied: StreamBatch[];
  /** batches skipped because the ledger already had them */
  duplicates: number;
  /** totals of the applied batches */
  rollup: BatchRollup;
  /** transactions attempted (more than 1 when a deadlock made it retry) */
  attempts: number;
}

const ROWS_PER_STATEMENT = 500;
/** ledger rows are narrow: a few thousand make a statement of a few hundred kB */
const LEDGER_ROWS_PER_STATEMENT = 2000;
/** (service, protocol, day)s whose metrics_daily one statement recomputes */
const DAYS_PER_STATEMENT = 100;
const RETRYABLE_MYSQL_ERRORS = new Set([1213 /* deadlock */, 1205 /* lock wait timeout */]);
const MAX_ATTEMPTS = 5;

type Tx = Parameters<Parameters<StorageDatabase['transaction']>[0]>[0];

const addColumn = (col: string): SQL => sql.raw(`\`${col}\` + VALUES(\`${col}\`)`);

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/** the ledger's key: batch ids are stored up to the column's 191 characters */
const ledgerId = (batchId: string): string => batchId.slice(0, 191);

function hourlyRow(b: BucketedTotals): MetricsHourlyInsert {
  const t = b.totals;
  const row: MetricsHourlyInsert = {
    service: b.key.service,
    endpoint: b.key.endpoint,
    method: b.key.method,
    protocol: b.key.protocol,
    hourStart: new Date(b.startMs),
    totalRequests: t.requests,
    totalInbound: Math.round(t.inboundBytes),
    totalOutbound: Math.round(t.outboundBytes),
    totalInboundWire: Math.round(t.inboundWireBytes),
    totalOutboundWire: Math.round(t.outboundWireBytes),
    durationSumMs: t.durationSumMs,
    maxResponseTime: round3(t.maxDurationMs),
    minResponseTime: Number.isFinite(t.minDurationMs) ? round3(t.minDurationMs) : null,
    errorCount: t.errors,
    successCount: t.successes,
  };
  const r = row as Record<string, unknown>;
  DURATION_BUCKET_COLUMN_KEYS.forEach((k, i) => {
    r[k] = t.durationBuckets[i] ?? 0;
  });
  return row;
}

/** drizzle property names of the bucket columns, in bucket order */
const DURATION_BUCKET_COLUMN_KEYS: string[] = DURATION_BUCKET_COLUMNS.map((col) => {
  const entry = Object.entries(metricsHourly).find(([, c]) => (c as { name?: unknown }).name === col);
  if (!entry) throw new Error(`schema has no column ${col}`);
  return entry[0];
});

const HOURLY_UPDATE_SET: Record<string, SQL> = (() => {
  const set: Record<string, SQL> = {
    totalRequests: addColumn('total_requests'),
    totalInbound: addColumn('total_inbound'),
    totalOutbound: addColumn('total_outbound'),
    totalInboundWire: addColumn('total_inbound_wire'),
    totalOutboundWire: addColumn('total_outbound_wire'),
    durationSumMs: addColumn('duration_sum_ms'),
    maxResponseTime: sql.raw('GREATEST(`max_response_time`, VALUES(`max_response_time`))'),
    minResponseTime: sql.raw(
      'COALESCE(LEAST(`min_response_time`, VALUES(`min_response_time`)), `min_response_time`, VALUES(`min_response_time`))',
    ),
    errorCount: addColumn('error_count'),
    successCount: addColumn('success_count'),
  };
  DURATION_BUCKET_COLUMNS.forEach((col, i) => {
    set[DURATION_BUCKET_COLUMN_KEYS[i] as string] = addColumn(col);
  });
  return set;
})();

function errno(err: unknown): number | undefined {
  const e = err as { errno?: unknown; cause?: { errno?: unknown } };
  if (typeof e?.errno === 'number') return e.errno;
  if (typeof e?.cause?.errno === 'number') return e.cause.errno;
  return undefined;
}

export interface RollupWriterOptions {
  /** Called inside the transaction, after every write and before COMMIT (fault-injection tests). */
  beforeCommit?: () => void | Promise<void>;
}

export class RollupWriter {
  constructor(
    private readonly conn: MysqlConnection,
    private readonly options: RollupWriterOptions = {},
  ) {}

  async apply(batches: readonly StreamBatch[]): Promise<FlushResult> {
    // the same batch may arrive twice in one read window
    const unique = new Map<string, StreamBatch>();
    for (const b of batches) if (!unique.has(b.batch.batchId)) unique.set(b.batch.batchId, b);
    const candidates = [...unique.values()];
    const rollupOf = (items: readonly LedgerEntry[]): BatchRollup => {
      const rollup = new BatchRollup();
      for (const e of items) rollup.add((unique.get(e.batchId) as StreamBatch).batch);
      return rollup;
    };
    const entries = candidates.map(ledgerEntryOf);
    const result = await this.applyMerged({ entries, rollup: rollupOf(entries), rebuild: (fresh) => ({ rollup: rollupOf(fresh), missing: [] }) });
    return {
      applied: result.applied.map((e) => unique.get(e.batchId) as StreamBatch),
      duplicates: batches.length - result.applied.length,
      rollup: result.rollup,
      attempts: result.attempts,
    };
  }

  /** Applies a flush whose totals were merged beforehand, in one transaction (retried on deadlocks). */
  async applyMerged(flush: MergedFlush): Promise<MergedFlushResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await this.conn.db.transaction((tx) => this.applyInTransaction(tx, flush));
        return { ...result, attempts: attempt };
      } catch (err) {
        const code = errno(err);
        if (attempt >= MAX_ATTEMPTS || code === undefined || !RETRYABLE_MYSQL_ERRORS.has(code)) throw err;
        await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50));
      }
    }
  }

  private async applyInTransaction(tx: Tx, flush: MergedFlush): Promise<Omit<MergedFlushResult, 'attempts'>> {
    const entries = flush.entries;
    if (entries.length === 0) return { applied: [], duplicates: [], missing: [], rollup: new BatchRollup() };
    const flushId = randomBytes(12).toString('hex');
    // one lock order for every aggregator: fewer deadlocks when two hold the same batch
    const ordered = [...entries].sort((a, b) => (a.batchId < b.batchId ? -1 : a.batchId > b.batchId ? 1 : 0));
    let inserted = 0;
    for (const part of chunks(ordered, LEDGER_ROWS_PER_STATEMENT)) {
      const [header] = await tx
        .insert(metricsBatchLedger)
        .ignore()
        .values(
          part.map((e) => ({
            batchId: ledgerId(e.batchId),
            flushId,
            streamEntryId: e.streamId,
            service: cutText(e.service, 128),
            points: e.points,
          })),
        );
      inserted += header.affectedRows;
    }
    let applied: LedgerEntry[] = [...entries];
    let duplicates: LedgerEntry[] = [];
    let missing: LedgerEntry[] = [];
    let rollup = flush.rollup;
    if (inserted !== entries.length) {
      // some batches were applied before: only the others count
      const mine = await tx
        .select({ batchId: metricsBatchLedger.batchId })
        .from(metricsBatchLedger)
        .where(eq(metricsBatchLedger.flushId, flushId));
      const fresh = new Set(mine.map((r) => r.batchId));
      applied = entries.filter((e) => fresh.has(ledgerId(e.batchId)));
      duplicates = entries.filter((e) => !fresh.has(ledgerId(e.batchId)));
      const rebuilt = await flush.rebuild(applied);
      rollup = rebuilt.rollup;
      if (rebuilt.missing.length > 0) {
        missing = rebuilt.missing;
        const gone = new Set(missing.map((e) => ledgerId(e.batchId)));
        applied = applied.filter((e) => !gone.has(ledgerId(e.batchId)));
        for (const part of chunks([...gone], LEDGER_ROWS_PER_STATEMENT)) {
          await tx.delete(metricsBatchLedger).where(and(eq(metricsBatchLedger.flushId, flushId), inArray(metricsBatchLedger.batchId, part)));
        }
      }
    }
    await this.writeRollup(tx, rollup);
    await this.options.beforeCommit?.();
    return { applied, duplicates, missing, rollup };
  }

  /** The additive upserts of a flush's totals, and the days they touched. */
  private async writeRollup(tx: Tx, rollup: BatchRollup): Promise<void> {
    if (rollup.batches === 0) return;
    const sorted = [...rollup.hourly.values()].sort((a, b) => compareKeys(a, b));
    for (const [table, direction] of [
      [metricsHourly, 'server'],
      [metricsClientHourly, 'client'],
    ] as const) {
      const rows = sorted.filter((b) => b.key.direction === direction).map(hourlyRow);
      for (const part of chunks(rows, ROWS_PER_STATEMENT)) {
        await tx.insert(table).values(part).onDuplicateKeyUpdate({ set: HOURLY_UPDATE_SET });
      }
    }
    const users = [...rollup.users.values()].sort((a, b) =>
      a.service < b.service ? -1 : a.service > b.service ? 1 : a.hourStartMs - b.hourStartMs || (a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0),
    );
    for (const part of chunks(users, ROWS_PER_STATEMENT)) {
      await tx
        .insert(metricsUsersHourly)
        .values(
          part.map((u) => ({
            service: u.service,
            hourStart: new Date(u.hourStartMs),
            userId: u.userId,
            requests: u.requests,
            totalInbound: Math.round(u.inboundBytes),
            totalOutbound: Math.round(u.outboundBytes),
          })),
        )
        .onDuplicateKeyUpdate({ set: { requests: addColumn('requests'), totalInbound: addColumn('total_inbound'), totalOutbound: addColumn('total_outbound') } });
    }
    await this.recomputeDaily(tx, rollup);
  }

  /** metrics_daily for every (service, protocol, day) the flush touched, from metrics_hourly. */
  private async recomputeDaily(tx: Tx, rollup: BatchRollup): Promise<void> {
    const days = new Map<string, { service: string; protocol: string; dayStart: Date }>();
    for (const b of rollup.hourly.values()) {
      if (b.key.direction !== 'server') continue;
      const dayStartMs = dayStart(b.startMs);
      const k = `${b.key.service}\u0000${b.key.protocol}\u0000${dayStartMs}`;
      if (!days.has(k)) days.set(k, { service: b.key.service, protocol: b.key.protocol, dayStart: new Date(dayStartMs) });
    }
    const ordered = [...days.values()].sort((a, b) =>
      a.service < b.service ? -1 : a.service > b.service ? 1 : a.dayStart.getTime() - b.dayStart.getTime(),
    );
    // one statement for many (service, protocol, day)s: the day's hourly rows are read once, not once per service
    for (const part of chunks(ordered, DAYS_PER_STATEMENT)) {
      const where = sql.join(
        part.map(
          (d) => sql`(service = ${d.service} AND protocol = ${d.protocol} AND hour_start >= ${d.dayStart} AND hour_start < ${new Date(d.dayStart.getTime() + DAY_MS)})`,
        ),
        sql` OR `,
      );
      await tx.execute(sql`
        INSERT INTO metrics_daily
          (service, date, protocol, total_bandwidth, total_inbound, total_outbound, total_requests,
           error_count, duration_sum_ms, peak_bandwidth, peak_hour, total_inbound_wire, total_outbound_wire)
        SELECT service, DATE(hour_start), protocol, SUM(bw), SUM(inb), SUM(outb), SUM(req), SUM(err), SUM(dur), MAX(bw),
               CAST(SUBSTRING_INDEX(GROUP_CONCAT(hour_start ORDER BY bw DESC, hour_start ASC SEPARATOR ','), ',', 1) AS DATETIME),
               SUM(inw), SUM(outw)
        FROM (
          SELECT service, protocol, hour_start,
                 SUM(total_inbound + total_outbound) AS bw, SUM(total_inbound) AS inb, SUM(total_outbound) AS outb,
                 SUM(total_requests) AS req, SUM(error_count) AS err, SUM(duration_sum_ms) AS dur,
                 SUM(total_inbound_wire) AS inw, SUM(total_outbound_wire) AS outw
          FROM metrics_hourly
          WHERE ${where}
          GROUP BY service, protocol, hour_start
        ) AS per_hour
        GROUP BY service, protocol, DATE(hour_start)
        ON DUPLICATE KEY UPDATE
          total_bandwidth = VALUES(total_bandwidth), total_inbound = VALUES(total_inbound),
          total_outbound = VALUES(total_outbound), total_requests = VALUES(total_requests),
          error_count = VALUES(error_count), duration_sum_ms = VALUES(duration_sum_ms),
          peak_bandwidth = VALUES(peak_bandwidth), peak_hour = VALUES(peak_hour),
          total_inbound_wire = VALUES(total_inbound_wire), total_outbound_wire = VALUES(total_outbound_wire)`);
    }
    // unique users of each day the flush brought users for: exact, from the per-user hours
    const userDays = new Map<string, { service: string; dayStart: Date }>();
    for (const u of rollup.users.values()) {
      const dayStartMs = dayStart(u.hourStartMs);
      userDays.set(`${u.service}\u0000${dayStartMs}`, { service: u.service, dayStart: new Date(dayStartMs) });
    }
    const orderedUserDays = [...userDays.values()].sort((a, b) =>
      a.service < b.service ? -1 : a.service > b.service ? 1 : a.dayStart.getTime() - b.dayStart.getTime(),
    );
    for (const part of chunks(orderedUserDays, DAYS_PER_STATEMENT)) {
      const where = sql.join(
        part.map((d) => sql`(service = ${d.service} AND hour_start >= ${d.dayStart} AND hour_start < ${new Date(d.dayStart.getTime() + DAY_MS)})`),
        sql` OR `,
      );
      await tx.execute(sql`
        UPDATE metrics_daily AS d
        JOIN (
          SELECT service, DATE(hour_start) AS day, COUNT(DISTINCT user_id) AS n FROM metrics_users_hourly
          WHERE ${where}
          GROUP BY service, DATE(hour_start)
        ) AS u ON d.service = u.service AND d.date = u.day AND d.protocol = 'http'
        SET d.unique_users = u.n`);
    }
  }
}

function compareKeys(a: BucketedTotals, b: BucketedTotals): number {
  const ka = [a.key.service, a.key.endpoint, a.key.method, a.key.protocol];
  const kb = [b.key.service, b.key.endpoint, b.key.method, b.key.protocol];
  for (let i = 0; i < ka.length; i++) {
    if ((ka[i] as string) < (kb[i] as string)) return -1;
    if ((ka[i] as string) > (kb[i] as string)) return 1;
  }
  return a.startMs - b.startMs;
}
