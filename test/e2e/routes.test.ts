/**
 * Route templates from real framework servers under the preload: Express 5 and Express 4 (nested
 * and parameterised router mounts, a sub-app, a throwing handler, app.route), Fastify 5 (prefixed plugins, via
 * its handler TracingChannel) and NestJS 11 on Express (global prefix). Each server gets known
 * traffic; the stream is applied with the Aggregator and the (method, endpoint, requests) rows of
 * metrics_hourly are compared, exactly, with what was sent.
 */
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { createTestDatabase, createTestRedis, request, startInstrumented, stopAllInstrumented, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('e2e_routes');
  r = await createTestRedis('e2e_routes');
});
afterAll(async () => {
  await stopAllInstrumented();
  await db.drop();
  await r.cleanup();
});

/** `METHOD endpoint` → requests stored for the service. */
async function storedRequests(service: string): Promise<Record<string, number>> {
  const [rows] = await db.conn.pool.query(
    `SELECT method, endpoint, SUM(total_requests) AS requests FROM metrics_hourly WHERE service = ? GROUP BY method, endpoint`,
    [service],
  );
  const stored: Record<string, number> = {};
  for (const row of rows as Array<{ method: string; endpoint: string; requests: string }>) stored[`${row.method} ${row.endpoint}`] = Number(row.requests);
  return stored;
}

async function applyStream(): Promise<void> {
  const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'e2e-routes', log: () => undefined });
  await aggregator.drainOnce();
  await aggregator.stop();
}

type Call = [method: string, url: string, status: number, body?: string];

/** Sends the calls one after the other and checks each status, so a wrong fixture fails here. */
async function send(port: number, calls: Call[]): Promise<void> {
  for (const [method, url, status, body] of calls) {
    const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
    const res = await request(port, method, url, body, headers);
    expect(`${method} ${url} ${res.status}`).toBe(`${method} ${url} ${status}`);
  }
}

async function run(fixture: string, service: string, env: Record<string, string>, calls: Call[]): Promise<Record<string, number>> {
  const server = await startInstrumented(path.join(__dirname, 'fixtures', fixture), {
    ...env,
    OTEL_SERVICE_NAME: service,
    OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
  });
  await send(server.port, calls);
  expect(await server.stop()).toBe(null); // SIGTERM: the last interval is exported first
  expect(server.stderr()).toBe('');
  await applyStream();
  return storedRequests(service);
}

describe('route templates from real framework servers', () => {
  it.each([
    ['Express 5', 'express'],
    ['Express 4', 'express4'],
  ])('%s: nested routers, parameterised mounts with their names, errors, app.route, unmatched', async (_name, expressPackage) => {
    const stored = await run('routes-express.js', `e2e-routes-${expressPackage}`, { EXPRESS_PACKAGE: expressPackage }, [
      ['GET', '/api/v1/orders/17', 200],
      ['GET', '/api/v1/orders/abc-def', 200],
      ['GET', '/api/v1/orders/9?expand=items', 200],
      ['GET', '/api/v1/explode', 500],
      ['GET', '/api/v1/reject', 500],
      ['GET', '/api', 200],
      ['GET', '/api/', 200],
      ['GET', '/tenants/acme/projects/p-9/tasks/3', 200],
      ['GET', '/tenants/globex/projects/42/tasks/x', 200],
      ['POST', '/tenants/acme/projects/p-9/tasks', 201, '{"name":"write tests"}'],
      ['GET', '/tenants/acme/settings', 200],
      ['GET', '/things', 200],
      ['POST', '/things', 201],
      ['POST', '/things', 201],
      ['PUT', '/things', 404],
      ['GET', '/health', 200],
      ['GET', '/orgs/acme/admin/users/7', 200],
      ['GET', '/orgs/globex/admin/users/bob', 200],
      ['GET', '/nope/1', 404],
      ['GET', '/tenants/acme/nope', 404],
      ['DELETE', '/api/v1/orders/17', 404],
    ]);
    expect(stored).toEqual({
      'GET /api/v1/orders/:orderId': 3,
      'GET /api/v1/explode': 1,
      'GET /api/v1/reject': 1,
      'GET /api': 2,
      'GET /tenants/:tenantId/projects/:projectId/tasks/:taskId': 2,
      'POST /tenants/:tenantId/projects/:projectId/tasks': 1,
      'GET /tenants/:tenantId/settings': 1,
      'GET /things': 1,
      'POST /things': 2,
      'PUT (unmatched)': 1,
      'GET /health': 1,
      'GET /orgs/:orgId/admin/users/:userId': 2,
      'GET (unmatched)': 2,
      'DELETE (unmatched)': 1,
    });
  });

  it('Fastify 5: templates with register prefixes, also for requests answered before the handler; the not-found handler is unmatched', async () => {
    const stored = await run('routes-fastify.js', 'e2e-routes-fastify', {}, [
      ['GET', '/users/42', 200],
      ['GET', '/users/alice?x=1', 200],
      ['GET', '/boom', 500],
      ['GET', '/v1', 200],
      ['GET', '/v1/', 200],
      ['POST', '/v1/items', 201, '{"name":"pen"}'],
      ['GET', '/v1/admin/reports/r-7', 200],
      ['GET', '/v1/admin/reports/quarterly', 200],
      ['HEAD', '/users/1', 200],
      ['GET', '/nope/1', 404],
      ['DELETE', '/users/1', 404],
      // answered before the handler, by an onRequest hook and by validation: still the template
      ['GET', '/private/reports', 401],
      ['POST', '/v1/strict/abc', 400, '{"other":1}'],
    ]);
    expect(stored).toEqual({
      'GET /users/:id': 2,
      'GET /boom': 1,
      'GET /v1': 2,
      'POST /v1/items': 1,
      'GET /v1/admin/reports/:reportId': 2,
      'HEAD /users/:id': 1,
      'GET (unmatched)': 1,
      'DELETE (unmatched)': 1,
      'GET /private/:name': 1,
      'POST /v1/strict/:name': 1,
    });
  });

  it('NestJS 11 on Express: controller and method paths below the global prefix', async () => {
    const stored = await run('routes-nest.js', 'e2e-routes-nest', {}, [
      ['GET', '/api/cats', 200],
      ['GET', '/api/cats/7', 200],
      ['GET', '/api/cats/tom', 200],
      ['GET', '/api/cats/missing', 404], // the route matched; the controller said 404
      ['POST', '/api/cats', 201, '{"name":"felix"}'],
      ['GET', '/api/cats/3/fail', 500],
      ['GET', '/api/owners/o-1/pets/p-2', 200],
      ['GET', '/api/nope', 404],
      ['GET', '/cats/1', 404],
      ['DELETE', '/api/cats/1', 404],
    ]);
    expect(stored).toEqual({
      'GET /api/cats': 1,
      'GET /api/cats/:id': 3,
      'POST /api/cats': 1,
      'GET /api/cats/:id/fail': 1,
      'GET /api/owners/:ownerId/pets/:petId': 1,
      'GET (unmatched)': 2,
      'DELETE (unmatched)': 1,
    });
  });
});
