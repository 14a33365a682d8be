/**
 * A service that configures OpenTelemetry itself: otel-bandwidth added to its NodeSDK (beside
 * @opentelemetry/instrumentation-http) ships through the same reader, registers no second global
 * provider, and its requests are counted once although two instrumentations measure them.
 */
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { ATTR_HTTP_ROUTE, METRIC_SERVER_DURATION, decodeBatch, fieldsFromArray } from '@otel-bandwidth/core';
import { REPO_ROOT, createTestDatabase, createTestRedis, request, startInstrumented, stopAllInstrumented, type TestDatabase, type TestRedis } from 'test-support';

const EXAMPLE = path.join(REPO_ROOT, 'examples', 'with-opentelemetry-sdk');
let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('with_otel_sdk');
  r = await createTestRedis('with_otel_sdk');
});
afterAll(async () => {
  await stopAllInstrumented();
  await db.drop();
  await r.cleanup();
});

describe('otel-bandwidth inside a service\'s own NodeSDK', () => {
  it('ships both instrumentations through one reader and stores each request once', async () => {
    const app = await startInstrumented(
      path.join(EXAMPLE, 'app.js'),
      { OTEL_SERVICE_NAME: 'orders', OTEL_BANDWIDTH_KEY_PREFIX: r.prefix, PORT: '0', OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
      path.join(EXAMPLE, 'telemetry.js'),
    );
    let body = 0;
    for (const id of [1, 2, 3]) body += (await request(app.port, 'GET', `/orders/${id}`, undefined, { 'x-user-id': `u${id}` })).received;
    body += (await request(app.port, 'GET', '/nothing')).received;
    expect(await app.stop()).toBe(0);
    expect(app.stderr()).toBe('');

    const scopes = new Set<string>();
    for (const [, f] of await r.redis.xrange(r.keys.stream, '-', '+')) {
      for (const m of decodeBatch(fieldsFromArray(f)).metrics) if (m.name === 'http.server.request.duration') scopes.add(m.scope ?? '');
    }
    expect([...scopes].sort()).toEqual(['@opentelemetry/instrumentation-http', '@otel-bandwidth/instrumentation']);

    const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'sdk', log: () => undefined });
    await aggregator.drainOnce();
    await aggregator.stop();
    const [rows] = await db.conn.pool.query(
      "SELECT method, endpoint, SUM(total_requests) AS requests, SUM(total_outbound) AS outbound FROM metrics_hourly WHERE service = 'orders' GROUP BY method, endpoint ORDER BY endpoint",
    );
    expect((rows as Array<Record<string, unknown>>).map((x) => [x.method, x.endpoint, Number(x.requests), Number(x.outbound)])).toEqual([
      ['GET', '(unmatched)', 1, 0],
      ['GET', '/orders/:id', 3, body],
    ]);
    const [users] = await db.conn.pool.query("SELECT COUNT(*) AS n FROM metrics_users_hourly WHERE service = 'orders'");
    expect(users).toEqual([{ n: 3 }]);
  });

  it('takes http.route from the RPC metadata framework instrumentations fill in, but never for a 404', async () => {
    const prefix = `${r.prefix}-route`;
    const app = await startInstrumented(
      path.join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'sdk-context-route.js'),
      { OTEL_SERVICE_NAME: 'things', OTEL_BANDWIDTH_KEY_PREFIX: prefix, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
      path.join(EXAMPLE, 'telemetry.js'),
    );
    for (const name of ['red-box', 'blue-box', 'green-box']) await request(app.port, 'GET', `/things/${name}`);
    await request(app.port, 'GET', '/plain/word');
    await request(app.port, 'GET', '/missing');
    expect(await app.stop()).toBe(0);
    expect(app.stderr()).toBe('');

    const routes: Record<string, number> = {};
    for (const [, f] of await r.redis.xrange(`{${prefix}}:metrics`, '-', '+')) {
      for (const m of decodeBatch(fieldsFromArray(f)).metrics) {
        if (m.name !== METRIC_SERVER_DURATION || m.scope !== '@otel-bandwidth/instrumentation' || m.type !== 'histogram') continue;
        for (const p of m.points) routes[String(p.attributes[ATTR_HTTP_ROUTE])] = (routes[String(p.attributes[ATTR_HTTP_ROUTE])] ?? 0) + p.count;
      }
    }
    expect(routes).toEqual({ '/things/:name': 3, '/plain/word': 1, '(unmatched)': 1 });
    await r.redis.del(`{${prefix}}:metrics`);
  });
});

