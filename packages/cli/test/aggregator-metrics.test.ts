/**
 * `otel-bandwidth aggregator` with OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT: the built command, as
 * a process of its own, serves its counters on GET /metrics; after a known stream they are exact.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { encodeBatch, fieldsToArray } from '@otel-bandwidth/core';
import { REDIS_URL, createTestDatabase, createTestRedis, promtoolProblems, waitFor, type TestDatabase, type TestRedis } from 'test-support';
import { batch } from '../../aggregator/test/fixtures';

const BIN = path.resolve(__dirname, '..', 'dist', 'bin.js');

let db: TestDatabase;
let r: TestRedis;
let child: ChildProcessWithoutNullStreams | undefined;
beforeAll(async () => {
  db = await createTestDatabase('cli_aggregator_metrics');
  r = await createTestRedis('cli_aggregator_metrics');
});
afterAll(async () => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  await db.drop();
  await r.cleanup();
});

function samples(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    out[line.slice(0, at)] = line.slice(at + 1);
  }
  return out;
}

describe('otel-bandwidth aggregator with OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT', () => {
  it('serves its counters for Prometheus, exact after a known stream, until it stops', async () => {
    const proc = spawn(process.execPath, [BIN, 'aggregator'], {
      env: {
        ...process.env,
        REDIS_URL,
        MYSQL_URL: db.url,
        OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
        OTEL_BANDWIDTH_CONSUMER_NAME: 'scraped',
        OTEL_BANDWIDTH_FLUSH_INTERVAL: '100',
        OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT: '0',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child = proc;
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((resolve) => proc.once('exit', resolve));
    const url = await waitFor('the metrics server', async () => {
      if (proc.exitCode !== null) throw new Error(`the aggregator exited ${proc.exitCode}: ${stderr}`);
      return /^metrics for Prometheus at (http:\/\/127\.0\.0\.1:\d+\/metrics)$/m.exec(stdout)?.[1];
    });

    // three batches and one of them again, in one transaction: one read, one flush
    const now = Date.now();
    const batches = [1, 2, 3].map((i) => batch(`cli-metrics:${i}`, now - 5000, now, [{ route: `/r${i}`, count: i, durationsS: Array(i).fill(0.003), inBytes: 0, outBytes: 100 * i }]));
    const multi = r.redis.multi();
    for (const b of [...batches, batches[0]!]) multi.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b)));
    await multi.exec();

    const text = await waitFor('the four entries flushed', async () => {
      const body = await (await fetch(url)).text();
      const s = samples(body);
      return s.otel_bandwidth_aggregator_entries_read_total === '4' && s.otel_bandwidth_aggregator_entries_buffered === '0' ? body : undefined;
    });
    expect(promtoolProblems(text)).toBe('');
    expect(samples(text)).toMatchObject({
      otel_bandwidth_aggregator_entries_read_total: '4',
      otel_bandwidth_aggregator_batches_applied_total: '3',
      otel_bandwidth_aggregator_duplicate_batches_total: '1',
      otel_bandwidth_aggregator_entries_dead_lettered_total: '0',
      otel_bandwidth_aggregator_points_refused_total: '0',
      otel_bandwidth_aggregator_points_ignored_total: '0',
      otel_bandwidth_aggregator_flushes_total: '1',
      otel_bandwidth_aggregator_failed_flushes_total: '0',
      otel_bandwidth_aggregator_rows_expired_total: '0',
      otel_bandwidth_aggregator_entries_buffered: '0',
    });
    const [rows] = await db.conn.pool.query('SELECT SUM(total_requests) AS requests FROM metrics_hourly');
    expect(Number((rows as Array<{ requests: string }>)[0]?.requests)).toBe(6);

    proc.kill('SIGTERM');
    expect([await exited, stderr]).toEqual([0, '']);
    await expect(fetch(url)).rejects.toThrow();
  });
});
