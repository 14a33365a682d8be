import { connectMysql, databaseName, dropDatabase, migrate, pingMysql } from '@otel-bandwidth/storage';
import mysql from 'mysql2/promise';

const url = `${process.env.MYSQL_TEST_SERVER_URL ?? 'mysql://root@127.0.0.1:3306'}/obw_test_migrate_${process.pid}`;
afterAll(async () => {
  await dropDatabase(url);
});

describe('migrate', () => {
  it('creates the database and tables, and is safe to run again and from several processes at once', async () => {
    expect(await migrate(url)).toEqual({ applied: 7, total: 7 });
    const again = await Promise.all([migrate(url), migrate(url), migrate(url)]);
    expect(again).toEqual([
      { applied: 0, total: 7 },
      { applied: 0, total: 7 },
      { applied: 0, total: 7 },
    ]);
    const conn = await mysql.createConnection(url);
    const [tables] = await conn.query('SHOW TABLES');
    await conn.end();
    expect((tables as Array<Record<string, string>>).map((t) => Object.values(t)[0]).sort()).toEqual([
      '__drizzle_migrations',
      'bandwidth_alerts',
      'metrics_batch_ledger',
      'metrics_client_hourly',
      'metrics_daily',
      'metrics_hourly',
      'metrics_users_hourly',
    ]);
  });

  it('says where MySQL is and how to start it when it does not answer', async () => {
    await expect(migrate('mysql://root@127.0.0.1:1/x')).rejects.toThrow(
      'MySQL at mysql://root@127.0.0.1:1/x does not answer (ECONNREFUSED). Start it (for example `docker compose up -d mysql`)',
    );
  });
});

describe('MySQL problems a person must act on', () => {
  it('says so in one line, without the URL\'s password', async () => {
    const server = process.env.MYSQL_TEST_SERVER_URL ?? 'mysql://root@127.0.0.1:3306';
    expect(() => databaseName('mysql://root:s3cret@127.0.0.1:3306')).toThrow(
      'invalid configuration:\n  - MYSQL_URL="mysql://root:***@127.0.0.1:3306" names no database (add /otel_bandwidth to it)',
    );
    const missing = `${server}/obw_test_never_created_${process.pid}`;
    const conn = connectMysql(missing);
    try {
      await expect(pingMysql(conn)).rejects.toThrow(
        `database "obw_test_never_created_${process.pid}" does not exist; create it and its tables with \`otel-bandwidth migrate\``,
      );
    } finally {
      await conn.close();
    }
  });
});
