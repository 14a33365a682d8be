import { ConfigError, ServiceUnreachableError, isUnreachableError, redactUrl } from '@otel-bandwidth/core';
import { drizzle, type MySql2Database } from 'drizzle-orm/mysql2';
import mysql from 'mysql2/promise';
import * as schema from './schema';

export type StorageDatabase = MySql2Database<typeof schema>;

export interface MysqlConnection {
  db: StorageDatabase;
  pool: mysql.Pool;
  url: string;
  close(): Promise<void>;
}

export interface MysqlOptions {
  connectionLimit?: number;
  connectTimeoutMs?: number;
}

function baseOptions(url: string): mysql.PoolOptions {
  return {
    uri: url,
    timezone: 'Z',
    supportBigNumbers: true,
    bigNumberStrings: false,
    decimalNumbers: true,
    charset: 'utf8mb4',
    enableKeepAlive: true,
  };
}

/** The database name in a mysql:// URL. */
export function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));
  // a configuration problem, said in one line without the URL's password
  if (!name) throw new ConfigError([`MYSQL_URL="${redactUrl(url)}" names no database (add /otel_bandwidth to it)`]);
  if (!/^[A-Za-z0-9_$-]+$/.test(name)) throw new ConfigError([`MYSQL_URL's database name "${name}" has characters other than letters, digits, _, $ and -`]);
  return name;
}

/** A pool whose sessions are in UTC, wrapped in drizzle. Does not connect until first used. */
export function connectMysql(url: string, options: MysqlOptions = {}): MysqlConnection {
  databaseName(url);
  const pool = mysql.createPool({
    ...baseOptions(url),
    connectionLimit: options.connectionLimit ?? 4,
    connectTimeout: options.connectTimeoutMs ?? 5000,
  });
  pool.pool.on('connection', (conn) => {
    conn.query("SET time_zone = '+00:00'");
  });
  const db = drizzle(pool, { schema, mode: 'default' });
  return {
    db,
    pool,
    url,
    close: () => pool.end(),
  };
}

/** Fails with a ServiceUnreachableError that says where and how to start MySQL. */
export async function pingMysql(conn: MysqlConnection): Promise<void> {
  try {
    await conn.pool.query('SELECT 1');
  } catch (err) {
    throw mysqlProblem(err, conn.url);
  }
}

/**
 * A MySQL failure as a person should read it: unreachable, the database missing, the user refused
 * (each one line, the URL without its password), or the error as it came.
 */
export function mysqlProblem(err: unknown, url: string): unknown {
  if (isUnreachableError(err)) return new ServiceUnreachableError('MySQL', url, err);
  const e = err as { errno?: unknown; sqlMessage?: unknown };
  if (e.errno === 1049) return new ConfigError([`MYSQL_URL="${redactUrl(url)}": database "${databaseName(url)}" does not exist; create it and its tables with \`otel-bandwidth migrate\``]);
  if (e.errno === 1045 || e.errno === 1044 || e.errno === 1698) return new ConfigError([`MYSQL_URL="${redactUrl(url)}": MySQL refused the user (${String(e.sqlMessage)})`]);
  return err;
}

/** Creates the URL's database if it does not exist. */
export async function ensureDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const u = new URL(url);
  u.pathname = '/';
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ ...baseOptions(u.toString()), connectTimeout: 5000 });
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`);
  } catch (err) {
    throw mysqlProblem(err, url);
  } finally {
    await conn?.end().catch(() => undefined);
  }
}

/** Drops the URL's database. For tests and the demo's fresh start. */
export async function dropDatabase(url: string): Promise<void> {
  const name = databaseName(url);
  const u = new URL(url);
  u.pathname = '/';
  let conn: mysql.Connection | undefined;
  try {
    conn = await mysql.createConnection({ ...baseOptions(u.toString()), connectTimeout: 5000 });
    await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
  } catch (err) {
    throw mysqlProblem(err, url);
  } finally {
    await conn?.end().catch(() => undefined);
  }
}
