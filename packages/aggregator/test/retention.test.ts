import {
  Aggregator,
  applyRetention,
  hourlyRetentionCutoff,
  ledgerRetentionCutoff,
  readAggregatorConfig,
} from '@otel-bandwidth/aggregator';
import { ConfigError, encodeBatch, fieldsToArray } from '@otel-bandwidth/core';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';
import { batch } from './fixtures';

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('retention');
  r = await createTestRedis('retention');
});
afterAll(async () => {
  await db.drop();
  await r.cleanup();
});
beforeEach(async () => {
  for (const t of ['metrics_hourly', 'metrics_client_hourly', 'metrics_users_hourly', 'metrics_daily', 'metrics_batch_ledger']) {
    await db.conn.pool.query(`DELETE FROM ${t}`);
  }
});

const DAY = 86_400_000;
const HOUR = 3_600_000;
/** 2026-11-28T12:30:00Z */
const NOW = Date.UTC(2026, 10, 28, 12, 30);
const silent = (): void => undefined;

async function insertHourly(table: 'metrics_hourly' | 'metrics_client_hourly', hours: Date[]): Promise<void> {
  const rows = hours.map((h, i) => ['svc', `/e${i}`, 'GET', 'http', h, 1]);
  await db.conn.pool.query(`INSERT INTO ${table} (service, endpoint, method, protocol, hour_start, total_requests) VALUES ?`, [rows]);
}
async function insertUsers(hours: Date[]): Promise<void> {
  await db.conn.pool.query('INSERT INTO metrics_users_hourly (service, hour_start, user_id, requests) VALUES ?', [hours.map((h, i) => ['svc', h, `u${i}`, 1])]);
}
async function insertLedger(appliedAt: Date[]): Promise<void> {
  await db.conn.pool.query('INSERT INTO metrics_batch_ledger (batch_id, flush_id, stream_entry_id, service, applied_at) VALUES ?', [
    appliedAt.map((t, i) => [`old:${t.getTime()}:${i}`, 'f', '1-0', 'svc', t]),
  ]);
}
async function hoursLeft(table: string): Promise<string[]> {
  const [rows] = await db.conn.pool.query(`SELECT DATE_FORMAT(hour_start, '%Y-%m-%dT%H') AS h FROM ${table} ORDER BY hour_start`);
  return (rows as Array<{ h: string }>).map((x) => x.h);
}
async function count(table: string): Promise<number> {
  const [rows] = await db.conn.pool.query(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number((rows as Array<{ n: number }>)[0]?.n);
}

describe('retention', () => {
  it('cuts hourly rows at whole UTC days and the ledger at its age, held back by the oldest entry in the stream', () => {
    expect(new Date(hourlyRetentionCutoff(NOW, 90) as number).toISOString()).toBe('2026-08-30T00:00:00.000Z');
    expect(new Date(hourlyRetentionCutoff(NOW, 1) as number).toISOString()).toBe('2026-11-27T00:00:00.000Z');
    expect(hourlyRetentionCutoff(NOW, 0)).toBeUndefined();
    expect(ledgerRetentionCutoff(NOW, 7)).toBe(NOW - 7 * DAY);
    expect(ledgerRetentionCutoff(NOW, 7, NOW - 2 * DAY)).toBe(NOW - 9 * DAY);
    expect(ledgerRetentionCutoff(NOW, 7, NOW + 5000)).toBe(NOW - 7 * DAY);
    expect(ledgerRetentionCutoff(NOW, 0, NOW)).toBeUndefined();
  });

  it('deletes expired hourly rows and ledger ids in chunks of the given size, oldest first, and keeps metrics_daily', async () => {
    const cutoff = Date.UTC(2026, 7, 30); // 90 days before 2026-11-28
    // 23 expired hours in metrics_hourly: 5 chunks of 5 (the last one holds 3)
    const expired = Array.from({ length: 23 }, (_, i) => new Date(cutoff - (i + 1) * HOUR));
    await insertHourly('metrics_hourly', [...expired, new Date(cutoff), new Date(NOW - 30 * 60_000)]);
    await insertHourly('metrics_client_hourly', [new Date(cutoff - 400 * DAY), new Date(cutoff - HOUR), new Date(cutoff + HOUR)]);
    await insertUsers([new Date(cutoff - HOUR), new Date(cutoff), new Date(cutoff + 5 * HOUR)]);
    await db.conn.pool.query("INSERT INTO metrics_daily (service, date, protocol, total_requests) VALUES ('svc', '2026-01-01', 'http', 7), ('svc', '2026-08-29', 'http', 23)");
    await insertLedger([new Date(NOW - 10 * DAY), new Date(NOW - 9 * DAY - 1), new Date(NOW - 9 * DAY + 1000), new Date(NOW - 7 * DAY - 1), new Date(NOW)]);
    // alerts: resolved before the cutoff (deleted), resolved after it, and one opened long ago and still open (kept)
    await db.conn.pool.query(
      "INSERT INTO bandwidth_alerts (alert_type, severity, message, metric_value, created_at, resolved_at, open_key) VALUES ('threshold', 'low', 'old', 1, ?, ?, NULL), ('threshold', 'low', 'recent', 1, ?, ?, NULL), ('threshold', 'low', 'open', 1, ?, NULL, 'k')",
      [new Date(cutoff - 2 * HOUR), new Date(cutoff - HOUR), new Date(cutoff - HOUR), new Date(cutoff + HOUR), new Date(cutoff - 100 * DAY)],
    );

    const result = await applyRetention(db.conn, { hourlyDays: 90, ledgerDays: 7, chunkRows: 5 }, { nowMs: NOW, oldestStreamEntryMs: NOW - 2 * DAY });
    expect(result).toEqual({
      hourlyCutoff: new Date('2026-08-30T00:00:00.000Z'),
      ledgerCutoff: new Date(NOW - 9 * DAY),
      deleted: { metrics_hourly: 23, metrics_client_hourly: 2, metrics_users_hourly: 1, bandwidth_alerts: 1, metrics_batch_ledger: 2 },
      // 5 + 1 + 1 + 1 + 1: a chunk smaller than 5 ends a table
      deletes: 9,
    });
    expect(await hoursLeft('metrics_hourly')).toEqual(['2026-08-30T00', '2026-11-28T12']);
    expect(await hoursLeft('metrics_client_hourly')).toEqual(['2026-08-30T01']);
    expect(await hoursLeft('metrics_users_hourly')).toEqual(['2026-08-30T00', '2026-08-30T05']);
    const [ledger] = await db.conn.pool.query('SELECT applied_at FROM metrics_batch_ledger ORDER BY applied_at');
    expect((ledger as Array<{ applied_at: Date }>).map((x) => x.applied_at.getTime())).toEqual([NOW - 9 * DAY + 1000, NOW - 7 * DAY - 1, NOW]);
    const [daily] = await db.conn.pool.query("SELECT DATE_FORMAT(date, '%Y-%m-%d') AS d, total_requests FROM metrics_daily ORDER BY date");
    expect(daily).toEqual([
      { d: '2026-01-01', total_requests: 7 },
      { d: '2026-08-29', total_requests: 23 },
    ]);

    // nothing left to delete: no DELETE at all, only reads
    const again = await applyRetention(db.conn, { hourlyDays: 90, ledgerDays: 7, chunkRows: 5 }, { nowMs: NOW, oldestStreamEntryMs: NOW - 2 * DAY });
    expect(again.deletes).toBe(0);
    expect(Object.values(again.deleted)).toEqual([0, 0, 0, 0, 0]);
  });

  it('keeps everything when the retention is 0 days', async () => {
    await insertHourly('metrics_hourly', [new Date(NOW - 5000 * DAY)]);
    await insertLedger([new Date(NOW - 5000 * DAY)]);
    const result = await applyRetention(db.conn, { hourlyDays: 0, ledgerDays: 0 }, { nowMs: NOW });
    expect(result.deletes).toBe(0);
    expect(await count('metrics_hourly')).toBe(1);
    expect(await count('metrics_batch_ledger')).toBe(1);
  });

  it('reads OTEL_BANDWIDTH_RETENTION_DAYS and OTEL_BANDWIDTH_LEDGER_RETENTION_DAYS', () => {
    expect(readAggregatorConfig({})).toMatchObject({ retentionDays: 90, ledgerRetentionDays: 7 });
    expect(readAggregatorConfig({ OTEL_BANDWIDTH_RETENTION_DAYS: '30', OTEL_BANDWIDTH_LEDGER_RETENTION_DAYS: '0' })).toMatchObject({
      retentionDays: 30,
      ledgerRetentionDays: 0,
    });
    expect(() => readAggregatorConfig({ OTEL_BANDWIDTH_RETENTION_DAYS: '-1', OTEL_BANDWIDTH_LEDGER_RETENTION_DAYS: 'week' })).toThrow(ConfigError);
    try {
      readAggregatorConfig({ OTEL_BANDWIDTH_RETENTION_DAYS: '-1', OTEL_BANDWIDTH_LEDGER_RETENTION_DAYS: 'week' });
    } catch (err) {
      expect((err as ConfigError).problems).toEqual([
        'OTEL_BANDWIDTH_RETENTION_DAYS=-1 is out of range (expected 0 to 36500)',
        'OTEL_BANDWIDTH_LEDGER_RETENTION_DAYS="week" is not a whole number (expected 0 to 36500)',
      ]);
    }
  });

  it('the aggregator runs it at start and again every retentionIntervalMs, in chunks', async () => {
    await db.conn.pool.query('DELETE FROM bandwidth_alerts');
    const now = Date.now();
    const old = new Date(hourlyRetentionCutoff(now, 90) as number - HOUR);
    await insertHourly('metrics_hourly', Array.from({ length: 12 }, (_, i) => new Date(old.getTime() - i * HOUR)));
    await insertLedger([new Date(now - 8 * DAY), new Date(now - 8 * DAY - 1), new Date(now - DAY)]);
    const logs: string[] = [];
    const agg = new Aggregator({
      redis: r.redis,
      mysql: db.conn,
      keyPrefix: r.prefix,
      consumer: 'retention',
      retentionChunkRows: 5,
      retentionIntervalMs: 200,
      log: (_level, message) => logs.push(message),
    });
    await agg.start();
    try {
      const until = async (probe: () => Promise<boolean>): Promise<void> => {
        while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, 20));
      };
      await until(async () => agg.stats().rowsExpired === 14);
      expect(await count('metrics_hourly')).toBe(0);
      expect(await count('metrics_batch_ledger')).toBe(1);
      expect(logs).toContain('retention: deleted 12 from metrics_hourly, 2 from metrics_batch_ledger in 4 chunks');
      // more expires later: the next run takes it
      await insertHourly('metrics_client_hourly', [old]);
      await until(async () => (await count('metrics_client_hourly')) === 0);
      await until(async () => agg.stats().rowsExpired === 15);
    } finally {
      await agg.stop();
    }
  });

  it('dead-letters data older than the hourly retention instead of writing rows retention would delete', async () => {
    const now = Date.now();
    const cutoff = hourlyRetentionCutoff(now, 90) as number;
    const tooOld = batch('old-process:1', cutoff - 10_000, cutoff - 5000, [{ route: '/old', count: 2, durationsS: [0.01, 0.01], inBytes: 0, outBytes: 10 }]);
    const justIn = batch('old-process:2', cutoff, cutoff + 5000, [{ route: '/old', count: 3, durationsS: [0.01, 0.01, 0.01], inBytes: 0, outBytes: 30 }]);
    await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(tooOld)));
    await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(justIn)));
    const agg = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'old-data', log: silent });
    await agg.drainOnce();
    await agg.stop();
    const [rows] = await db.conn.pool.query("SELECT total_requests, total_outbound FROM metrics_hourly WHERE endpoint = '/old'");
    expect(rows).toEqual([{ total_requests: 3, total_outbound: 30 }]);
    expect(agg.stats()).toMatchObject({ batchesApplied: 1, deadLettered: 1 });
    const dead = await r.redis.xrange(r.keys.deadLetter, '-', '+');
    expect(dead.map(([, f]) => f[1])).toEqual([
      `data of ${new Date(cutoff - 7500).toISOString()} is older than the retention of hourly rows (90 days before today, UTC)`,
    ]);
  });
});
