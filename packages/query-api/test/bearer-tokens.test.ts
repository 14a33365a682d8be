/**
 * OTEL_BANDWIDTH_API_TOKENS: the list read and refused with reasons (pure), and an API built with
 * tokens answering only requests that carry one, but for /healthz and the dashboard's files.
 */
import { buildQueryApi, readApiConfig } from '@otel-bandwidth/query-api';
import { connectMysql, type MysqlConnection } from '@otel-bandwidth/storage';
import type { FastifyInstance } from 'fastify';
import { closedPort, createTestRedis, type TestRedis } from 'test-support';
import { BearerTokens, parseTokens } from '../src/bearer-tokens';

const A = 'k3y-0ne.of_two~tokens+xyz/ABC=';
const B = 'another-token-0123456789abcdef';

describe('bearer tokens', () => {
  it('reads a comma-separated list and says what is wrong with a token, never the token', () => {
    expect(parseTokens(` ${A} ,${B}, `)).toEqual({ tokens: [A, B] });
    expect(parseTokens(' , ')).toEqual({ problem: 'holds no token' });
    expect(parseTokens(`${A},short`)).toEqual({ problem: 'token 2 has 5 characters; at least 24 (for example: openssl rand -base64 32)' });
    for (const bad of ['this-token-has-a space-in-it-somewhere', 'this-token-has-a-quote-"-in-it']) {
      expect(parseTokens(bad)).toEqual({ problem: 'token 1 holds a character a bearer token cannot (letters, digits and - . _ ~ + / only, = at the end)' });
    }
    expect(() => readApiConfig({ OTEL_BANDWIDTH_API_TOKENS: 'short' })).toThrow(
      'OTEL_BANDWIDTH_API_TOKENS: token 1 has 5 characters; at least 24 (for example: openssl rand -base64 32)',
    );
    expect(readApiConfig({ OTEL_BANDWIDTH_API_TOKENS: `${A},${B}` }).tokens).toEqual([A, B]);
    expect(readApiConfig({}).tokens).toEqual([]);
  });

  it('lets through a request with any of the tokens, and the open paths without one', () => {
    const tokens = new BearerTokens([A, B]);
    expect([`Bearer ${A}`, `bearer ${B}`, `Bearer ${A}x`, `Basic ${A}`, A, undefined].map((h) => tokens.allows('/metrics/realtime', h))).toEqual([true, true, false, false, false, false]);
    expect(['/healthz', '/', '/dashboard', '/dashboard.js', '/dashboard-format.js', '/dashboard.css', '/openapi.json', '/metrics'].map((p) => tokens.allows(p, undefined))).toEqual([
      true, true, true, true, true, true, false, false,
    ]);
  });
});

describe('an API with tokens', () => {
  let r: TestRedis;
  let mysql: MysqlConnection;
  let api: FastifyInstance;

  beforeAll(async () => {
    r = await createTestRedis('query_api_tokens');
    // the routes asked here read Redis only
    mysql = connectMysql(`mysql://root@127.0.0.1:${await closedPort()}/nothing`);
    api = buildQueryApi({ redis: r.redis, mysql, keyPrefix: r.prefix, tokens: [A, B] });
  });
  afterAll(async () => {
    await api.close();
    await mysql.close().catch(() => undefined);
    await r.cleanup();
  });

  it('answers 401 with a challenge without a token or with a wrong one, whatever the route', async () => {
    for (const [url, authorization] of [['/metrics/realtime', undefined], ['/metrics/minutes?minutes=2', `Bearer ${A}-wrong`], ['/openapi.json', undefined], ['/nothing-here', undefined]] as const) {
      const res = await api.inject({ url, headers: authorization === undefined ? {} : { authorization } });
      expect([url, res.statusCode, res.headers['www-authenticate'], res.json()]).toEqual([
        url, 401, 'Bearer realm="otel-bandwidth"',
        { statusCode: 401, error: 'Unauthorized', message: 'this API wants Authorization: Bearer <token> (one of OTEL_BANDWIDTH_API_TOKENS)' },
      ]);
    }
  });

  it('answers with either token, and /healthz and the dashboard without one', async () => {
    const realtime = await api.inject({ url: '/metrics/realtime?minutes=1', headers: { authorization: `Bearer ${B}` } });
    expect(realtime.statusCode).toBe(200);
    expect(realtime.json().summary.totalRequests).toBe(0);
    expect((await api.inject({ url: '/openapi.json', headers: { authorization: `Bearer ${A}` } })).statusCode).toBe(200);
    // MySQL is down here: 503, but not 401
    expect((await api.inject({ url: '/healthz' })).statusCode).toBe(503);
    expect((await api.inject({ url: '/dashboard' })).statusCode).toBe(200);
    expect((await api.inject({ url: '/dashboard.js' })).statusCode).toBe(200);
    expect((await api.inject({ url: '/dashboard-format.js' })).statusCode).toBe(200);
  });
});
