/**
 * The whole pipeline with real processes: a server under the preload receives known traffic,
 * the exporter ships it to Redis, the aggregator applies it to MariaDB, and the numbers are read
 * back from metrics_hourly and through the query API. Every figure is compared, exactly, with
 * what the test client itself sent and received.
 */
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { buildQueryApi, type HourlyRow } from '@otel-bandwidth/query-api';
import {
  createTestDatabase,
  createTestRedis,
  request,
  startInstrumented,
  stopAllInstrumented,
  type ClientResult,
  type TestDatabase,
  type TestRedis,
} from 'test-support';

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('e2e_pipeline');
  r = await createTestRedis('e2e_pipeline');
});
afterAll(async () => {
  await stopAllInstrumented();
  await db.drop();
  await r.cleanup();
});

interface Expected {
  requests: number;
  inbound: number;
  outbound: number;
  errors: number;
}

function tally(into: Map<string, Expected>, key: string, results: ClientResult[]): void {
  const e = into.get(key) ?? { requests: 0, inbound: 0, outbound: 0, errors: 0 };
  for (const res of results) {
    e.requests++;
    e.inbound += res.sent;
    e.outbound += res.received;
    if (res.status >= 400) e.errors++;
  }
  into.set(key, e);
}

async function storedByEndpoint(service: string): Promise<Map<string, Expected>> {
  const [rows] = await db.conn.pool.query(
    `SELECT method, endpoint, SUM(total_requests) AS requests, SUM(total_inbound) AS inbound, SUM(total_outbound) AS outbound, SUM(error_count) AS errors
     FROM metrics_hourly WHERE service = ? GROUP BY method, endpoint`,
    [service],
  );
  return new Map(
    (rows as Array<{ method: string; endpoint: string; requests: string; inbound: string; outbound: string; errors: string }>).map((x) => [
      `${x.method} ${x.endpoint}`,
      { requests: Number(x.requests), inbound: Number(x.inbound), outbound: Number(x.outbound), errors: Number(x.errors) },
    ]),
  );
}

async function applyStream(): Promise<void> {
  const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'e2e', log: () => undefined });
  await aggregator.drainOnce();
  await aggregator.stop();
}

describe('pipeline end to end', () => {
  it('a plain node:http server: exact requests and body bytes per route, in MySQL and through the API', async () => {
    const server = await startInstrumented(path.join(__dirname, 'fixtures', 'plain-server.js'), {
      OTEL_SERVICE_NAME: 'e2e-plain',
      OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
    });
    const expected = new Map<string, Expected>();
    const p = server.port;
    tally(expected, 'GET /health', await Promise.all([1, 2, 3].map(() => request(p, 'GET', '/health'))));
    tally(expected, 'POST /users/:id', [
      await request(p, 'POST', '/users/17', 'x'.repeat(100)),
      await request(p, 'POST', '/users/17', Buffer.alloc(100, 1)),
      await request(p, 'POST', '/users/42', 'ü'.repeat(125)), // 250 bytes
    ]);
    tally(expected, 'GET /reports', [await request(p, 'GET', '/reports'), await request(p, 'GET', '/reports')]);
    tally(expected, 'GET (unmatched)', [await request(p, 'GET', '/nope/123'), await request(p, 'GET', '/other?x=1')]);
    tally(expected, 'GET /boom', [await request(p, 'GET', '/boom')]);

    // the client's own count, spelled out
    expect(Object.fromEntries(expected)).toEqual({
      'GET /health': { requests: 3, inbound: 0, outbound: 6, errors: 0 },
      'POST /users/:id': { requests: 3, inbound: 450, outbound: 3 * '{"id":"17","received":100}'.length, errors: 0 },
      'GET /reports': { requests: 2, inbound: 0, outbound: 2 * 3256, errors: 0 },
      'GET (unmatched)': { requests: 2, inbound: 0, outbound: 18, errors: 2 },
      'GET /boom': { requests: 1, inbound: 0, outbound: 14, errors: 1 },
    });

    // SIGTERM: the preload flushes the last interval, then lets the process die of the signal
    expect(await server.stop()).toBe(null);
    expect(server.child.signalCode).toBe('SIGTERM');
    expect(server.stderr()).toBe('');

    await applyStream();
    expect(Object.fromEntries(await storedByEndpoint('e2e-plain'))).toEqual(Object.fromEntries(expected));

    const api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix });
    try {
      const res = await api.inject({ method: 'GET', url: '/metrics/hourly?hours=1&service=e2e-plain' });
      expect(res.statusCode).toBe(200);
      const rows = res.json() as HourlyRow[];
      const viaApi = new Map<string, Expected>();
      for (const row of rows) {
        const k = `${row.method} ${row.endpoint}`;
        const e = viaApi.get(k) ?? { requests: 0, inbound: 0, outbound: 0, errors: 0 };
        e.requests += row.total_requests;
        e.inbound += row.total_inbound;
        e.outbound += row.total_outbound;
        e.errors += row.error_count;
        viaApi.set(k, e);
        expect(row.success_count + row.error_count).toBe(row.total_requests);
        expect(row.min_response_time).not.toBeNull();
        expect(row.max_response_time).toBeGreaterThanOrEqual(row.min_response_time as number);
      }
      expect(Object.fromEntries(viaApi)).toEqual(Object.fromEntries(expected));

      const realtime = await api.inject({ method: 'GET', url: '/metrics/realtime?minutes=5&service=e2e-plain' });
      const outbound = [...expected.values()].reduce((sum, e) => sum + e.outbound, 0);
      expect(outbound).toBe(6628);
      expect(realtime.json().summary).toMatchObject({ totalRequests: 11, totalInbound: 450, totalOutbound: 6628, totalBandwidth: 7078, errorCount: 3 });
    } finally {
      await api.close();
    }
  });

  it('an Express app: route templates below the router mount path, exact bytes', async () => {
    const server = await startInstrumented(path.join(__dirname, 'fixtures', 'express-server.js'), {
      OTEL_SERVICE_NAME: 'e2e-express',
      OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
    });
    const expected = new Map<string, Expected>();
    const p = server.port;
    tally(expected, 'GET /api/users/:id', await Promise.all(['1', '22', '333', '4444'].map((id) => request(p, 'GET', `/api/users/${id}`))));
    const items = JSON.stringify({ items: [1, 2, 3] });
    tally(expected, 'POST /api/items', [
      await request(p, 'POST', '/api/items', items, { 'content-type': 'application/json' }),
      await request(p, 'POST', '/api/items', items, { 'content-type': 'application/json' }),
    ]);
    tally(expected, 'GET /api/broken', [await request(p, 'GET', '/api/broken')]);
    tally(expected, 'GET (unmatched)', [await request(p, 'GET', '/api/nothing-here')]);
    expect(await server.stop()).toBe(null);

    await applyStream();
    expect(Object.fromEntries(await storedByEndpoint('e2e-express'))).toEqual(Object.fromEntries(expected));
    expect(expected.get('GET /api/users/:id')).toMatchObject({ requests: 4, inbound: 0 });
    expect(expected.get('POST /api/items')).toMatchObject({ requests: 2, inbound: 2 * items.length });
  });

  it('counts unique users per hour and per day exactly, from a header, without making them metric attributes', async () => {
    const server = await startInstrumented(path.join(__dirname, 'fixtures', 'plain-server.js'), {
      OTEL_SERVICE_NAME: 'e2e-users',
      OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
      OTEL_BANDWIDTH_USER_HEADER: 'x-user-id',
    });
    const p = server.port;
    const as = (user: string | undefined, body: string) => request(p, 'POST', '/users/1', body, user ? { 'x-user-id': user } : {});
    await as('alice', 'a'.repeat(10));
    await as('alice', 'a'.repeat(20));
    await as('bob', 'b'.repeat(300));
    await as('carol', 'c');
    await as(undefined, 'anonymous');
    expect(await server.stop()).toBe(null);
    await applyStream();

    const [users] = await db.conn.pool.query(
      "SELECT user_id, requests, total_inbound, total_outbound FROM metrics_users_hourly WHERE service = 'e2e-users' ORDER BY user_id",
    );
    const reply = (n: number) => `{"id":"1","received":${n}}`.length;
    expect(users).toEqual([
      { user_id: 'alice', requests: 2, total_inbound: 30, total_outbound: reply(10) + reply(20) },
      { user_id: 'bob', requests: 1, total_inbound: 300, total_outbound: reply(300) },
      { user_id: 'carol', requests: 1, total_inbound: 1, total_outbound: reply(1) },
    ]);
    const [daily] = await db.conn.pool.query("SELECT total_requests, unique_users FROM metrics_daily WHERE service = 'e2e-users'");
    expect(daily).toEqual([{ total_requests: 5, unique_users: 3 }]);
    const [attrs] = await db.conn.pool.query("SELECT COUNT(*) AS n FROM metrics_hourly WHERE service = 'e2e-users' AND endpoint LIKE '%alice%'");
    expect(attrs).toEqual([{ n: 0 }]);
  });

  it('folds series past the cardinality limit into one overflow series that reaches storage', async () => {
    const server = await startInstrumented(path.join(__dirname, 'fixtures', 'plain-server.js'), {
      OTEL_SERVICE_NAME: 'e2e-overflow',
      OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
      OTEL_BANDWIDTH_CARDINALITY_LIMIT: '2',
    });
    await request(server.port, 'GET', '/health');
    await request(server.port, 'POST', '/users/1', 'x');
    for (const route of ['/reports', '/reports', '/boom']) await request(server.port, 'GET', route);
    await request(server.port, 'GET', '/missing');
    expect(await server.stop()).toBe(null);
    await applyStream();
    const stored = await storedByEndpoint('e2e-overflow');
    expect([...stored].map(([k, v]) => [k, v.requests, v.errors]).sort()).toEqual([
      ['GET (overflow)', 4, 2],
      ['GET /health', 1, 0],
      ['POST /users/:id', 1, 0],
    ]);
  });
});
