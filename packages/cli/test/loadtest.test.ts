/**
 * otel-bandwidth loadtest: its request specs and the stored totals' arithmetic (pure), and the
 * command against a real instrumented Express server, a real aggregator and a real query API,
 * where what it sent must be what MySQL holds; and what it says when that cannot hold.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { buildQueryApi, type HourlyRow } from '@otel-bandwidth/query-api';
import type { FastifyInstance } from 'fastify';
import {
  closedPort,
  createTestDatabase,
  createTestRedis,
  REDIS_URL,
  REPO_ROOT,
  startInstrumented,
  stopAllInstrumented,
  type InstrumentedProcess,
  type TestDatabase,
  type TestRedis,
} from 'test-support';
import { parseLoadtestArgs, runLoadtest, type LoadtestOptions } from '../src/commands/loadtest';
import { parseHeader, parseRequestSpec } from '../src/load-plan';
import { addedSince, firstCountedHour, hoursParameter, sumTotals, totalsByRoute } from '../src/stored-totals';

const BIN = path.resolve(__dirname, '..', 'dist', 'bin.js');
const EXPRESS_SERVER = path.join(REPO_ROOT, 'test', 'e2e', 'fixtures', 'express-server.js');

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'obw-loadtest-'));
const ORDER = path.join(tmp, 'items.json');
// 22 bytes
fs.writeFileSync(ORDER, '{"items":[1,2,3,4,5]}\n');
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('request specs', () => {
  it('reads a method, a path, a body file and a weight', () => {
    expect(parseRequestSpec('get /api/products')).toEqual({ method: 'GET', path: '/api/products', body: undefined, bodyFile: undefined, weight: 1, spec: 'get /api/products' });
    const post = parseRequestSpec('  POST /api/orders?x=1  @items.json  *3 ', tmp);
    expect({ ...post, body: post.body?.toString() }).toEqual({
      method: 'POST', path: '/api/orders?x=1', body: '{"items":[1,2,3,4,5]}\n', bodyFile: ORDER, weight: 3, spec: 'POST /api/orders?x=1  @items.json  *3',
    });
  });

  it('names every mistake with the spec it is in', () => {
    const problem = (spec: string): string => {
      try {
        parseRequestSpec(spec, tmp);
      } catch (err) {
        return (err as Error).message;
      }
      return 'no error';
    };
    expect(problem('/api/products')).toBe('--request "/api/products": say a method and a path, for example "GET /api/products"');
    expect(problem('GE(T /x')).toBe('--request "GE(T /x": "GE(T" is not an HTTP method');
    expect(problem('GET api/products')).toBe('--request "GET api/products": the path must start with "/" (the target\'s origin comes from --target), got "api/products"');
    expect(problem('GET /x @items.json')).toBe('--request "GET /x @items.json": a GET request is sent without a body; give @items.json to a POST, PUT or PATCH');
    expect(problem('POST /x @missing.json')).toBe(`--request "POST /x @missing.json": cannot read the body file ${path.join(tmp, 'missing.json')} (ENOENT)`);
    expect(problem('POST /x @')).toBe('--request "POST /x @": "@" needs a file name, for example @order.json');
    expect(problem('GET /x *0')).toBe('--request "GET /x *0": the weight *0 must be * and a whole number from 1 to 1000');
    expect(problem('GET /x *2 *3')).toBe('--request "GET /x *2 *3": "*3" is neither a body file (@file, once) nor a weight (*N, once)');
    expect(problem('GET /x extra')).toBe('--request "GET /x extra": "extra" is neither a body file (@file, once) nor a weight (*N, once)');
  });

  it('reads headers as Name: value, and refuses those the load test sets', () => {
    expect(parseHeader('Authorization: Bearer a:b')).toEqual(['Authorization', 'Bearer a:b']);
    expect(() => parseHeader('no colon')).toThrow('--header "no colon": write it as "Name: value"');
    expect(() => parseHeader('Content-Length: 5')).toThrow('--header "Content-Length: 5": Content-Length is set by the load test itself');
  });

  it('needs a target, a service and a request, and takes Content-Type for the bodies', () => {
    const env = {};
    expect(() => parseLoadtestArgs(['--service', 's', '--request', 'GET /'], env)).toThrow('--target is required');
    expect(() => parseLoadtestArgs(['--target', 'http://h:1', '--request', 'GET /'], env)).toThrow('--service is required');
    expect(() => parseLoadtestArgs(['--target', 'http://h:1', '--service', 's'], env)).toThrow('name at least one --request');
    expect(() => parseLoadtestArgs(['--target', 'http://h:1/api', '--service', 's', '--request', 'GET /'], env)).toThrow('--target "http://h:1/api" must be an origin only (paths go in --request)');
    expect(() => parseLoadtestArgs(['--target', 'ftp://h', '--service', 's', '--request', 'GET /'], env)).toThrow('--target "ftp://h" must be http: or https:');
    expect(() => parseLoadtestArgs(['--target', 'http://h:1', '--service', 's', '--request', 'GET /', '--duration', '0'], env)).toThrow('--duration must be a whole number from 1 to 3600, got "0"');
    expect(() => parseLoadtestArgs(['--target', 'http://h:1', '--service', 's', '--request', 'GET /', '--rate', '5'], env)).toThrow('unknown option --rate (see otel-bandwidth loadtest --help)');
    const opts = parseLoadtestArgs(
      ['--target', 'http://h:1/', '--service', 's', '--request', 'GET /', '--header', 'content-type: text/plain', '--header', 'x-user-id: u1'],
      { OTEL_BANDWIDTH_API_URL: 'http://api:9/', OTEL_BANDWIDTH_API_TOKEN: 'from-the-environment-0123456789' },
    );
    expect(opts.apiToken).toBe('from-the-environment-0123456789');
    expect(parseLoadtestArgs(['--target', 'http://h:1', '--service', 's', '--request', 'GET /', '--token', 'given-0123456789-0123456789'], { OTEL_BANDWIDTH_API_TOKEN: 'x' }).apiToken).toBe('given-0123456789-0123456789');
    expect({ target: opts.targetUrl, api: opts.apiUrl, headers: opts.headers, contentType: opts.contentType, duration: opts.durationSeconds, connections: opts.connections, wait: opts.waitSeconds }).toEqual({
      target: 'http://h:1', api: 'http://api:9', headers: { 'x-user-id': 'u1' }, contentType: 'text/plain', duration: 30, connections: 16, wait: 180,
    });
  });
});

describe('stored totals', () => {
  const row = (hour: string, method: string, endpoint: string, requests: number, inBytes: number, outBytes: number, errors: number, avg: number): HourlyRow => ({
    id: 1, service: 's', endpoint, method, protocol: 'http', hour_start: hour, total_requests: requests, total_inbound: inBytes, total_outbound: outBytes,
    total_inbound_wire: 0, total_outbound_wire: 0, avg_response_time: avg, max_response_time: 0, min_response_time: null, error_count: errors,
    success_count: requests - errors, created_at: hour, updated_at: hour,
  });

  it('sums from the hour before the start, and reaches back to it whatever the time', () => {
    const start = Date.parse('2026-12-06T10:20:00Z');
    expect(new Date(firstCountedHour(start)).toISOString()).toBe('2026-12-06T09:00:00.000Z');
    expect(hoursParameter(firstCountedHour(start), start)).toBe(3);
    expect(hoursParameter(firstCountedHour(start), Date.parse('2026-12-06T11:05:00Z'))).toBe(4);
  });

  it('gives what was added per route between two readings, rows of earlier hours left out', () => {
    const from = Date.parse('2026-12-06T09:00:00Z');
    const before = totalsByRoute([
      row('2026-12-06T08:00:00.000Z', 'GET', '/a', 1000, 0, 9999, 0, 1),
      row('2026-12-06T10:00:00.000Z', 'GET', '/a', 10, 0, 100, 1, 2),
    ], from);
    const after = totalsByRoute([
      row('2026-12-06T08:00:00.000Z', 'GET', '/a', 1000, 0, 9999, 0, 1),
      row('2026-12-06T10:00:00.000Z', 'GET', '/a', 30, 0, 300, 1, 3),
      row('2026-12-06T11:00:00.000Z', 'GET', '/a', 5, 0, 50, 0, 4),
      row('2026-12-06T11:00:00.000Z', 'POST', '/b', 7, 70, 14, 7, 1),
    ], from);
    const added = addedSince(before, after);
    expect(added).toEqual([
      // 30 x 3 + 5 x 4 - 10 x 2 ms
      { method: 'GET', endpoint: '/a', requests: 25, bytesIn: 0, bytesOut: 250, errors: 0, durationMs: 90 },
      { method: 'POST', endpoint: '/b', requests: 7, bytesIn: 70, bytesOut: 14, errors: 7, durationMs: 7 },
    ]);
    expect(sumTotals(added)).toEqual({ requests: 32, bytesIn: 70, bytesOut: 264, errors: 7, durationMs: 97 });
    expect(addedSince(after, after)).toEqual([]);
  });
});

describe('otel-bandwidth loadtest against a real pipeline', () => {
  let db: TestDatabase;
  let r: TestRedis;
  let aggregator: Aggregator;
  let api: FastifyInstance;
  let apiUrl: string;
  let service: InstrumentedProcess;
  const SERVICE = 'loadtest-express';

  beforeAll(async () => {
    db = await createTestDatabase('cli loadtest');
    r = await createTestRedis('cli loadtest');
    aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'loadtest', flushIntervalMs: 100, log: () => undefined });
    await aggregator.start();
    api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix });
    apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
    service = await startInstrumented(EXPRESS_SERVER, { OTEL_SERVICE_NAME: SERVICE, REDIS_URL, OTEL_BANDWIDTH_KEY_PREFIX: r.prefix });
  });

  afterAll(async () => {
    await service?.stop();
    await stopAllInstrumented();
    await api?.close();
    await aggregator?.stop();
    await r?.cleanup();
    await db?.drop();
  });

  const options = (over: Partial<LoadtestOptions> = {}): LoadtestOptions => ({
    targetUrl: `http://127.0.0.1:${service.port}`,
    apiUrl,
    apiToken: undefined,
    service: SERVICE,
    durationSeconds: 1,
    connections: 4,
    requests: [parseRequestSpec('GET /api/users/7 *2'), parseRequestSpec(`POST /api/items @${ORDER}`), parseRequestSpec('GET /api/broken')],
    headers: { 'x-user-id': 'load-1' },
    contentType: undefined,
    waitSeconds: 30,
    ...over,
  });

  /** The table rows of a printed section, as cells. */
  const section = (lines: string[], title: string): string[][] => {
    const at = lines.findIndex((l) => l.startsWith(title));
    const out: string[][] = [];
    for (let i = at + 2; i < lines.length && lines[i] !== ''; i++) out.push((lines[i] as string).split(/\s{2,}/));
    return out;
  };
  const count = (cell: string | undefined): number => Number((cell ?? '').replace(/,/g, ''));

  it('finds in MySQL exactly what it sent: every request and every body byte, per request and per route', async () => {
    const lines: string[] = [];
    const code = await runLoadtest(options(), (l) => lines.push(l));
    expect(code).toBe(0);
    expect(lines).toContain('Every request and every body byte the load test counted is in MySQL, exactly.');

    // what it says it sent: the fixture's bodies are {"id":"7","name":"user 7"} (26 bytes),
    // {"count":5} (11) and "error: broken" (13); the file sent is 22 bytes
    const sent = section(lines, 'Sent, as the load test counted it');
    expect(sent.map((c) => [c[0], c[1], c[3]])).toEqual([['GET', '/api/users/7', '0'], ['POST', `/api/items (@${ORDER})`, '0'], ['GET', '/api/broken', '0']]);
    const [users, items, broken] = sent.map((c) => count(c[2])) as [number, number, number];
    expect(users).toBeGreaterThan(0);
    expect(sent.map((c) => [count(c[4]), count(c[5])])).toEqual([[0, users * 26], [items * 22, items * 11], [0, broken * 13]]);

    // what the pipeline stored, per route, read back from MySQL itself
    const [rows] = (await db.conn.pool.query(
      `SELECT method, endpoint, SUM(total_requests) AS requests, SUM(total_inbound) AS bytesIn, SUM(total_outbound) AS bytesOut, SUM(error_count) AS errors
       FROM metrics_hourly WHERE service = ? GROUP BY method, endpoint ORDER BY endpoint`,
      [SERVICE],
    )) as unknown as [Array<Record<string, string | number>>];
    expect(rows.map((x) => [x.method, x.endpoint, Number(x.requests), Number(x.bytesIn), Number(x.bytesOut), Number(x.errors)])).toEqual([
      ['GET', '/api/broken', broken, 0, broken * 13, broken],
      ['POST', '/api/items', items, items * 22, items * 11, 0],
      ['GET', '/api/users/:id', users, 0, users * 26, 0],
    ]);
    const stored = section(lines, 'Stored, as the pipeline counted it');
    expect(stored.map((c) => [c[0], c[1], count(c[2]), count(c[3]), count(c[4]), count(c[5])]).sort((a, b) => String(a[1]).localeCompare(String(b[1])))).toEqual([
      ['GET', '/api/broken', broken, broken, 0, broken * 13],
      ['POST', '/api/items', items, 0, items * 22, items * 11],
      ['GET', '/api/users/:id', users, 0, 0, users * 26],
    ]);
    const total = users + items + broken;
    const verdict = lines.slice(lines.findIndex((l) => l.includes('TOTAL')) + 1, lines.findIndex((l) => l.includes('TOTAL')) + 4).map((l) => l.split(/\s{2,}/));
    expect(verdict.map((c) => [c[0], c[1], count(c[2]), count(c[3]), c[4]])).toEqual([
      ['✓', 'requests', total, total, '0'],
      ['✓', 'request body bytes', items * 22, items * 22, '0'],
      ['✓', 'response body bytes', users * 26 + items * 11 + broken * 13, users * 26 + items * 11 + broken * 13, '0'],
    ]);
  });

  it('says so when other traffic reached the service meanwhile, and counts only what was added since its start', async () => {
    const lines: string[] = [];
    const running = runLoadtest(options({ requests: [parseRequestSpec('GET /api/users/8')] }), (l) => lines.push(l));
    // three requests from elsewhere while it runs
    await new Promise((resolve) => setTimeout(resolve, 300));
    for (let i = 0; i < 3; i++) await (await fetch(`http://127.0.0.1:${service.port}/api/users/9`)).text();
    expect(await running).toBe(1);
    const verdict = lines.slice(lines.findIndex((l) => l.includes('TOTAL')) + 1).slice(0, 3).map((l) => l.split(/\s{2,}/));
    expect(verdict.map((c) => [c[0], c[1], count(c[3]) - count(c[2]), c[4]])).toEqual([
      ['✗', 'requests', 3, '+3'],
      ['✓', 'request body bytes', 0, '0'],
      ['✗', 'response body bytes', 78, '+78'],
    ]);
    expect(lines).toContain(`The pipeline stored 3 more requests than were sent: other traffic reached "${SERVICE}" during the test (the comparison needs the service to itself).`);
  });

  it('says what to check when the pipeline does not store what was sent within --wait', async () => {
    const lines: string[] = [];
    // a service name nothing reports under
    const code = await runLoadtest(options({ service: 'not-this-one', waitSeconds: 2, requests: [parseRequestSpec('GET /api/users/1')] }), (l) => lines.push(l));
    expect(code).toBe(1);
    expect(lines).toContain('Stored, as the pipeline counted it (added to MySQL since the start, per route; server time)');
    expect(lines).toContain('  nothing');
    expect(lines.find((l) => l.startsWith('The pipeline stored') && l.includes('fewer requests within --wait 2 s'))).toContain('under the name "not-this-one" (OTEL_SERVICE_NAME)');
  });

  it('sends nothing when the target takes no connections or the API does not answer', async () => {
    const lines: string[] = [];
    const port = await closedPort();
    expect(await runLoadtest(options({ targetUrl: `http://127.0.0.1:${port}` }), (l) => lines.push(l))).toBe(1);
    expect(lines[2]).toBe(`  target        http://127.0.0.1:${port} does not take connections (ECONNREFUSED); is the service running there?`);
    const apiLines: string[] = [];
    expect(await runLoadtest(options({ apiUrl: `http://127.0.0.1:${port}` }), (l) => apiLines.push(l))).toBe(1);
    expect(apiLines[1]).toBe(`  query API     the API at http://127.0.0.1:${port} does not answer (ECONNREFUSED); start it with \`otel-bandwidth api\` or point --api at it`);
  });

  it('fails, and says why, when no request is answered', async () => {
    const lines: string[] = [];
    // takes each connection (so the target is reachable) and resets it at the request's first bytes
    const net = await import('node:net');
    const server = net.createServer((socket) => socket.once('data', () => socket.resetAndDestroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as import('node:net').AddressInfo;
    try {
      expect(await runLoadtest(options({ targetUrl: `https://127.0.0.1:${port}`, waitSeconds: 1 }), (l) => lines.push(l))).toBe(1);
    } finally {
      server.close();
    }
    expect(lines.find((l) => l.startsWith('Sent '))).toMatch(/^Sent 0 requests \(0 a second\), [\d,]+ failed \(first: ECONNRESET\)$/);
    expect(lines.at(-1)).toBe(
      'No request was answered, so there is nothing to compare (the first failure: ECONNRESET; a certificate the client does not trust is named NODE_EXTRA_CA_CERTS=<its CA file>).',
    );
  });

  it('refuses bad options with exit status 2, before sending anything', async () => {
    const child = spawn(process.execPath, [BIN, 'loadtest', '--target', 'http://127.0.0.1:1', '--service', 's', '--request', 'GET x'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const code = await new Promise((resolve) => child.once('exit', resolve));
    expect(code).toBe(2);
    expect(stderr).toBe('otel-bandwidth loadtest: --request "GET x": the path must start with "/" (the target\'s origin comes from --target), got "x"\n');
  });
});
