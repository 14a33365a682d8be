/**
 * GET /openapi.json: the OpenAPI document generated from the route schemas, valid against the
 * OpenAPI 3.1 schema (checked by @seriousme/openapi-schema-validator, an ES module, so in a child
 * process), listing every route with its parameters as the API validates them.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildQueryApi } from '@otel-bandwidth/query-api';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
let api: FastifyInstance;
beforeAll(async () => {
  db = await createTestDatabase('query_api_openapi');
  r = await createTestRedis('query_api_openapi');
  api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix });
});
afterAll(async () => {
  await api.close();
  await db.drop();
  await r.cleanup();
});

interface Parameter {
  name: string;
  in: string;
  required: boolean;
  schema: { enum?: string[]; default?: unknown; minimum?: number; maximum?: number };
}
interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, { get: { parameters?: Parameter[]; responses: Record<string, { content: Record<string, { schema: { properties?: Record<string, unknown> } }> }> } }>;
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3.1 document of every route, and of nothing else', async () => {
    const res = await api.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = res.json() as Document;
    expect([doc.openapi, doc.info.title]).toEqual(['3.1.0', 'otel-bandwidth query API']);
    expect(Object.keys(doc.paths).sort()).toEqual(
      ['/healthz', '/metrics', '/metrics/alerts', '/metrics/daily', '/metrics/endpoints', '/metrics/hourly', '/metrics/hours', '/metrics/minutes', '/metrics/realtime', '/metrics/status', '/metrics/users'],
    );
    // the Prometheus scrape answers text, not JSON
    expect(Object.keys(doc.paths['/metrics']?.get.responses['200']?.content ?? {})).toEqual(['text/plain; version=0.0.4; charset=utf-8']);
    const file = path.join(os.tmpdir(), `obw-openapi-${process.pid}.json`);
    fs.writeFileSync(file, res.body);
    try {
      const script =
        "import { Validator } from '@seriousme/openapi-schema-validator';" +
        'const v = new Validator(); const r = await v.validate(process.argv[1]);' +
        'process.stdout.write(JSON.stringify({ valid: r.valid, version: v.version, errors: r.errors ?? null }));';
      const out = execFileSync(process.execPath, ['--input-type=module', '-e', script, file], { cwd: path.join(__dirname, '..', '..', '..'), encoding: 'utf8' });
      expect(JSON.parse(out)).toEqual({ valid: true, version: '3.1', errors: null });
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('gives each parameter its type, bounds, allowed values and default, optional where it has one', async () => {
    const doc = (await api.inject({ url: '/openapi.json' })).json() as Document;
    const params = Object.fromEntries((doc.paths['/metrics/endpoints']?.get.parameters ?? []).map((p) => [p.name, p]));
    expect(params.sort).toMatchObject({ in: 'query', required: false, schema: { enum: ['bandwidth', 'requests', 'errors', 'p95', 'p99'], default: 'bandwidth' } });
    expect(params.hours).toMatchObject({ required: false, schema: { minimum: 1, maximum: 2160, default: 24 } });
    expect(params.service).toMatchObject({ required: false });
    const answer = doc.paths['/metrics/endpoints']?.get.responses['200']?.content['application/json']?.schema;
    expect(Object.keys((answer?.properties?.endpoints as { items: { properties: Record<string, unknown> } }).items.properties)).toEqual(
      expect.arrayContaining(['p50', 'p95', 'p99', 'totalBandwidth', 'errorRate']),
    );
    const realtime = doc.paths['/metrics/realtime']?.get.responses['200']?.content['application/json']?.schema?.properties;
    const endpoint = (realtime?.endpoints as { items: { properties: Record<string, unknown> } }).items.properties;
    expect(Object.keys(endpoint)).toEqual(expect.arrayContaining(['avgResponseTime', 'maxResponseTime', 'p50ResponseTime', 'p95ResponseTime', 'p99ResponseTime']));
    expect(endpoint.p95ResponseTime).toMatchObject({ anyOf: [{ type: 'number' }, { type: 'null' }] });
    expect(Object.keys((realtime?.summary as { properties: Record<string, unknown> }).properties)).toEqual(expect.arrayContaining(['avgResponseTime', 'p95ResponseTime']));
  });
});
