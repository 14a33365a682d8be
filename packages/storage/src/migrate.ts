import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, redactUrl } from '@otel-bandwidth/core';
import { migrate as drizzleMigrate } from 'drizzle-orm/mysql2/migrator';
import { drizzle } from 'drizzle-orm/mysql2';
import mysql from 'mysql2/promise';
import { databaseName, ensureDatabase, mysqlProblem, type MysqlConnection } from './connection';

export const MIGRATIONS_FOLDER = path.join(__dirname, '..', 'drizzle');
const LOCK_NAME = 'otel_bandwidth_migrate';
const LOCK_WAIT_SECONDS = 120;

export interface MigrateResult {
  /** migrations applied by this call */
  applied: number;
  /** migrations recorded in the database after this call */
  total: number;
}

/** Migrations this version of storage has (drizzle-kit's journal). */
export function knownMigrations(): number {
  const journal = JSON.parse(fs.readFileSync(path.join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
  return journal.entries.length;
}

/**
 * Fails with a ConfigError saying to run `otel-bandwidth migrate` when the database lacks
 * migrations this version needs: a database created by hand, or by an older version. Without it a
 * service would start, say it is healthy, and fail at its first query.
 */
export async function checkMysqlSchema(conn: MysqlConnection): Promise<void> {
  let applied: number;
  try {
    const [rows] = await conn.pool.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM `__drizzle_migrations`');
    applied = Number(rows[0]?.n ?? 0);
  } catch (err) {
    const errno = (err as { errno?: unknown }).errno;
    if (errno === 1146) applied = 0; // no such table: never migrated
    // a user without rights on the migrations table (an API's read-only user, say): its own
    // rights on the tables it uses are the database administrator's to give, not ours to guess
    else if (errno === 1142 || errno === 1143) return;
    else throw mysqlProblem(err, conn.url);
  }
  const known = knownMigrations();
  if (applied < known) {
    throw new ConfigError([
      `MYSQL_URL="${redactUrl(conn.url)}": database "${databaseName(conn.url)}" has ${applied} of the ${known} migrations this version needs; ` +
        'create or update its tables with `otel-bandwidth migrate`',
    ]);
  }
}

async function countApplied(conn: Pick<mysql.Connection, 'query'>): Promise<number> {
  const [rows] = await conn.query<mysql.RowDataPacket[]>(
    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '__drizzle_migrations'",
  );
  if (Number(rows[0]?.n ?? 0) === 0) return 0;
  const [applied] = await conn.query<mysql.RowDataPacket[]>('SELECT COUNT(*) AS n FROM `__drizzle_migrations`');
  return Number(applied[0]?.n ?? 0);
}

/**
 * Applies drizzle-kit's generated migrations. Creates the database if needed. Safe to run twice
 * and from several processes at once: a named MySQL lock lets one process migrate at a time, and
 * the others then find nothing left to do.
 */
export async function migrate(url: string): Promise<MigrateResult> {
  await ensureDatabase(url);
  let conn: mysql.Connection;
  try {
    conn = await mysql.createConnection({ uri: url, timezone: 'Z', multipleStatements: false, connectTimeout: 5000 });
  } catch (err) {
    throw mysqlProblem(err, url);
  }
  try {
    await conn.query("SET time_zone = '+00:00'");
    const [lock] = await conn.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS got', [LOCK_NAME, LOCK_WAIT_SECONDS]);
    if (Number(lock[0]?.got) !== 1) throw new Error(`could not take the migration lock within ${LOCK_WAIT_SECONDS} s`);
    try {
      const before = await countApplied(conn);
      await drizzleMigrate(drizzle(conn), { migrationsFolder: MIGRATIONS_FOLDER });
      const after = await countApplied(conn);
      return { applied: after - before, total: after };
    } finally {
      await conn.query('SELECT RELEASE_LOCK(?)', [LOCK_NAME]);
    }
  } finally {
    await conn.end();
  }
}
