/**
 * Bytes, exactly: a client on raw sockets counts what it sends and receives, and what the preload
 * records (as shipped to the stream) must equal it to the byte, body and wire, for every kind of
 * traffic a service sees.
 */
import path from 'node:path';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_METHOD,
  ATTR_HTTP_ROUTE,
  METRIC_SERVER_DURATION,
  METRIC_SERVER_REQUEST_BODY_SIZE,
  METRIC_SERVER_REQUEST_WIRE_SIZE,
  METRIC_SERVER_RESPONSE_BODY_SIZE,
  METRIC_SERVER_RESPONSE_WIRE_SIZE,
  decodeBatch,
  fieldsFromArray,
} from '@otel-bandwidth/core';
import {
  RawHttpConnection,
  createTestRedis,
  requestHead,
  startInstrumented,
  stopAllInstrumented,
  type InstrumentedProcess,
  type TestRedis,
} from 'test-support';

interface Totals {
  requests: number;
  bodyIn: number;
  bodyOut: number;
  wireIn: number;
  wireOut: number;
}
const zero = (): Totals => ({ requests: 0, bodyIn: 0, bodyOut: 0, wireIn: 0, wireOut: 0 });

let r: TestRedis;
let server: InstrumentedProcess;
const client = new Map<string, Totals>();

beforeAll(async () => {
  r = await createTestRedis('exact_bytes');
  server = await startInstrumented(path.join(__dirname, 'fixtures', 'bytes-server.js'), {
    OTEL_SERVICE_NAME: 'bytes',
    OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
  });
});
afterAll(async () => {
  await stopAllInstrumented();
  await r.cleanup();
});

function count(key: string, t: Partial<Totals>): void {
  const c = client.get(key) ?? zero();
  c.requests += t.requests ?? 1;
  c.bodyIn += t.bodyIn ?? 0;
  c.bodyOut += t.bodyOut ?? 0;
  c.wireIn += t.wireIn ?? 0;
  c.wireOut += t.wireOut ?? 0;
  client.set(key, c);
}

/** One request on its own connection; returns the final response's status. */
async function one(key: string, method: string, urlPath: string, body: Array<string | Buffer> = [], headers: Record<string, string> = {}, options: { expectContinue?: boolean; chunked?: boolean } = {}): Promise<number> {
  const conn = await RawHttpConnection.open(server.port);
  const x = await conn.exchange(requestHead(method, urlPath, headers), body, { head: method === 'HEAD', ...options });
  await conn.close();
  const final = x.responses[x.responses.length - 1]!;
  count(key, { bodyIn: x.bodySent, bodyOut: final.bodyBytes, wireIn: x.wireSent, wireOut: x.wireReceived });
  return final.status;
}

/** What the preload shipped, summed per "METHOD route[ error.type]". */
async function recorded(): Promise<Map<string, Totals>> {
  const out = new Map<string, Totals>();
  const field: Record<string, keyof Totals> = {
    [METRIC_SERVER_REQUEST_BODY_SIZE]: 'bodyIn',
    [METRIC_SERVER_RESPONSE_BODY_SIZE]: 'bodyOut',
    [METRIC_SERVER_REQUEST_WIRE_SIZE]: 'wireIn',
    [METRIC_SERVER_RESPONSE_WIRE_SIZE]: 'wireOut',
  };
  for (const [, fields] of await r.redis.xrange(r.keys.stream, '-', '+')) {
    for (const m of decodeBatch(fieldsFromArray(fields)).metrics) {
      if (m.type !== 'histogram') continue;
      for (const p of m.points) {
        const a = p.attributes;
        const key = `${a[ATTR_HTTP_METHOD]} ${a[ATTR_HTTP_ROUTE]}${a[ATTR_ERROR_TYPE] === 'aborted' ? ' aborted' : ''}`;
        const t = out.get(key) ?? zero();
        if (m.name === METRIC_SERVER_DURATION) t.requests += p.count;
        const f = field[m.name];
        if (f) t[f] += p.sum;
        out.set(key, t);
      }
    }
  }
  return out;
}

describe('exact bytes under the preload', () => {
  it('counts body and wire bytes of every kind of exchange exactly as the client did', async () => {
    expect(await one('GET /json', 'GET', '/json')).toBe(200);
    expect(await one('GET /text', 'GET', '/text')).toBe(200);
    expect(await one('HEAD /text', 'HEAD', '/text')).toBe(200);
    expect(await one('GET /hex', 'GET', '/hex')).toBe(200);
    expect(await one('GET /chunks', 'GET', '/chunks')).toBe(200);
    expect(await one('GET /file', 'GET', '/file')).toBe(200);
    expect(await one('GET /gzip', 'GET', '/gzip', [], { 'accept-encoding': 'gzip' })).toBe(200);
    expect(await one('HEAD /json', 'HEAD', '/json')).toBe(200);
    expect(await one('GET /empty', 'GET', '/empty')).toBe(204);
    expect(await one('GET /cached', 'GET', '/cached')).toBe(304);
    const upload = Buffer.alloc(70_000, 7);
    expect(await one('POST /upload', 'POST', '/upload', [upload], { 'content-length': String(upload.length) })).toBe(200);
    expect(await one('POST /upload', 'POST', '/upload', ['abc', Buffer.alloc(5000, 1), 'é'.repeat(333)], { 'transfer-encoding': 'chunked' }, { chunked: true })).toBe(200);
    expect(
      await one('POST /upload', 'POST', '/upload', [Buffer.alloc(12_345, 2)], { 'content-length': '12345', expect: '100-continue' }, { expectContinue: true }),
    ).toBe(200);
    expect(await one('GET (unmatched)', 'GET', '/no/such/thing')).toBe(404);

    // many requests on one keep-alive connection
    const conn = await RawHttpConnection.open(server.port);
    for (let i = 0; i < 25; i++) {
      const x = await conn.exchange(requestHead('GET', '/json'));
      count('GET /json', { bodyOut: x.responses[0]!.bodyBytes, wireIn: x.wireSent, wireOut: x.wireReceived });
      const y = await conn.exchange(requestHead('POST', '/upload', { 'content-length': '10' }), ['0123456789']);
      count('POST /upload', { bodyIn: 10, bodyOut: y.responses[0]!.bodyBytes, wireIn: y.wireSent, wireOut: y.wireReceived });
    }
    await conn.close();

    // pipelined requests: responses written while an earlier one still holds the connection
    const piped = await RawHttpConnection.open(server.port);
    const p = await piped.pipeline([requestHead('GET', '/chunks'), requestHead('GET', '/chunks'), requestHead('GET', '/chunks')]);
    await piped.close();
    expect(p.responses.map((x) => x.status)).toEqual([200, 200, 200]);
    count('GET /chunks', { requests: 3, bodyOut: p.responses.reduce((n, x) => n + x.bodyBytes, 0), wireIn: p.wireSent, wireOut: p.wireReceived });

    // pipelined uploads: a queued request's body arrives before its response gets the connection
    const pipedUploads = await RawHttpConnection.open(server.port);
    const u = await pipedUploads.pipeline([1, 2, 3].map((i) => requestHead('POST', '/upload', { 'content-length': '10' }) + `${i}`.repeat(10)));
    await pipedUploads.close();
    expect(u.responses.map((x) => x.status)).toEqual([200, 200, 200]);
    count('POST /upload', { requests: 3, bodyIn: 30, bodyOut: u.responses.reduce((n, x) => n + x.bodyBytes, 0), wireIn: u.wireSent, wireOut: u.wireReceived });

    // a client that leaves mid-response: the bytes actually written, counted as an error
    const abandonedSeen = new Promise<void>((resolve) => {
      server.child.on('message', (m: unknown) => {
        if ((m as { abandoned?: boolean }).abandoned) resolve();
      });
    });
    const quitter = await RawHttpConnection.open(server.port);
    const left = await quitter.abandonAfter(requestHead('GET', '/abandoned'), 1000);
    await abandonedSeen; // the server saw the connection close before it is told to stop
    count('GET /abandoned aborted', { bodyOut: left.bodyReceived, wireIn: left.wireSent, wireOut: left.wireReceived });

    // SIGTERM makes the preload export the last interval
    expect(await server.stop()).toBe(null);
    const got = await recorded();
    expect(Object.fromEntries([...got].sort())).toEqual(Object.fromEntries([...client].sort()));

    // sanity of the client's own count for the cases that must be zero or known
    expect(client.get('HEAD /json')?.bodyOut).toBe(0);
    expect(client.get('HEAD /text')?.bodyOut).toBe(0);
    expect(client.get('GET /text')?.bodyOut).toBe(50 * 18); // 'héllo wörld ✓ ' is 18 bytes of UTF-8
    expect(client.get('GET /hex')?.bodyOut).toBe(64);
    // 'x' * 37i for odd i, 11i bytes for even i, i = 1..20: 3,700 + 1,210 per response, 4 responses
    expect(client.get('GET /chunks')).toMatchObject({ requests: 4, bodyOut: 4 * 4910 });
    expect(client.get('GET /empty')?.bodyOut).toBe(0);
    expect(client.get('GET /cached')?.bodyOut).toBe(0);
    expect(client.get('GET /abandoned aborted')).toMatchObject({ requests: 1, bodyOut: 1000 });
    expect(client.get('POST /upload')).toMatchObject({ requests: 31, bodyIn: 70_000 + 3 + 5000 + 666 + 12_345 + 250 + 30 });
  });
});
