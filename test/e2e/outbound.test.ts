/**
 * Outbound calls: a service's node:http and fetch calls are measured like its server side and
 * stored in metrics_client_hourly, exactly as the service itself counted them; the bytes on the
 * wire of each call equal what the upstream server (in the same process) recorded receiving and
 * sending.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { REGISTER, createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('outbound');
  r = await createTestRedis('outbound');
});
afterAll(async () => {
  await db.drop();
  await r.cleanup();
});

describe('outbound calls', () => {
  it('are stored per called endpoint with exact bytes, errors included', async () => {
    const run = spawnSync(process.execPath, ['--unhandled-rejections=strict', '--require', REGISTER, path.join(__dirname, 'fixtures', 'outbound-calls.js')], {
      encoding: 'utf8',
      env: { ...process.env, OTEL_SERVICE_NAME: 'caller', OTEL_BANDWIDTH_KEY_PREFIX: r.prefix, OTEL_METRIC_EXPORT_INTERVAL: '60000' },
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const { port, downPort, counts } = JSON.parse(run.stdout) as { port: number; downPort: number; counts: Record<string, { requests: number; sent: number; received: number }> };

    const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'outbound', log: () => undefined });
    await aggregator.drainOnce();
    await aggregator.stop();

    const [called] = await db.conn.pool.query(
      `SELECT method, endpoint, SUM(total_requests) AS requests, SUM(total_outbound) AS sent, SUM(total_inbound) AS received,
              SUM(error_count) AS errors, SUM(total_outbound_wire) AS wire_sent, SUM(total_inbound_wire) AS wire_received
       FROM metrics_client_hourly WHERE service = 'caller' GROUP BY method, endpoint ORDER BY endpoint, method`,
    );
    const base = `http://127.0.0.1:${port}`;
    type Row = Record<string, string | number> & { requests: number; sent: number; received: number; errors: number };
    const rows = (called as Array<Record<string, string | number>>).map((x): Row => ({ ...x, requests: Number(x.requests), sent: Number(x.sent), received: Number(x.received), errors: Number(x.errors) }));
    expect(rows.map(({ wire_sent: _s, wire_received: _r, ...rest }) => rest)).toEqual([
      { method: 'GET', endpoint: `${base}/v1/things/:id`, requests: 5, sent: 0, received: counts['GET /v1/things/:id']!.received, errors: 0 },
      { method: 'POST', endpoint: `${base}/v1/upload`, requests: 3, sent: counts['POST /v1/upload']!.sent, received: counts['POST /v1/upload']!.received, errors: 0 },
      { method: 'GET', endpoint: `http://127.0.0.1:${downPort}/down`, requests: 2, sent: 0, received: 0, errors: 2 },
    ].sort((a, b) => (a.endpoint < b.endpoint ? -1 : a.endpoint > b.endpoint ? 1 : 0)));
    expect(counts['POST /v1/upload']).toEqual({ requests: 3, sent: 7000, received: 3 * '{"received":1000}'.length });

    // the same bytes, seen from the upstream server's side in the same process
    const [served] = await db.conn.pool.query(
      `SELECT method, endpoint, SUM(total_requests) AS requests, SUM(total_inbound_wire) AS wire_in, SUM(total_outbound_wire) AS wire_out
       FROM metrics_hourly WHERE service = 'caller' GROUP BY method, endpoint ORDER BY endpoint`,
    );
    const byEndpoint = new Map((served as Array<Record<string, string>>).map((x) => [`${x.method} ${x.endpoint}`, x]));
    for (const row of rows.filter((x) => x.errors === 0)) {
      const s = byEndpoint.get(`${row.method} ${String(row.endpoint).slice(base.length)}`);
      expect(Number(s?.requests)).toBe(row.requests);
      expect(Number(row.wire_sent)).toBe(Number(s?.wire_in));
      expect(Number(row.wire_received)).toBe(Number(s?.wire_out));
      expect(Number(row.wire_sent)).toBeGreaterThan(row.sent);
    }
  });
});
