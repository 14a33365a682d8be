/**
 * Redis outages under the preload, with real processes and a private redis-server (the shared
 * one is left alone): an app serves traffic while its Redis is gone for 30 s (killed, then
 * started again, empty, on the same port) or stopped (SIGSTOP: connections hang, sends time
 * out). Once Redis is back everything arrives, and the totals applied to MySQL equal, exactly,
 * what the client sent and received. The preload's own counters are read over IPC.
 */
import path from 'node:path';
import { Aggregator, type AggregatorStats } from '@otel-bandwidth/aggregator';
import { decodeBatch, fieldsFromArray } from '@otel-bandwidth/core';
import type Redis from 'ioredis';
import {
  REGISTER,
  clientTotals,
  storedTotals,
  sleep,
  type ClientTotals,
  createTestDatabase,
  createTestRedis,
  request,
  startInstrumented,
  stopAllInstrumented,
  waitFor,
  type ClientResult,
  type InstrumentedProcess,
  type TestDatabase,
  type TestRedis,
  preloadStatsOf,
} from 'test-support';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-servers';

jest.setTimeout(180_000);

const APP_PATH = path.join(__dirname, 'fixtures', 'echo-with-stats.js');

let db: TestDatabase;
let r: TestRedis;
let redis: PrivateRedis;
let client: Redis;
beforeAll(async () => {
  db = await createTestDatabase('exporter_outage');
  r = await createTestRedis('exporter_outage');
  redis = await startPrivateRedis();
  client = redis.client();
});
afterAll(async () => {
  await stopAllInstrumented();
  await redis.close();
  await db.drop();
  await r.cleanup();
});

type Totals = ClientTotals;

let n = 0;
/** One request of the two kinds the app sees: GET /items/:id and POST /upload (varying bodies). */
function oneRequest(port: number): Promise<ClientResult> {
  n++;
  return n % 3 === 0 ? request(port, 'POST', '/upload', 'u'.repeat(100 + (n % 17) * 13)) : request(port, 'GET', `/items/${n}`);
}

async function traffic(port: number, count: number): Promise<ClientResult[]> {
  const out: ClientResult[] = [];
  for (let i = 0; i < count; i++) out.push(await oneRequest(port));
  return out;
}

/** Requests in the stream, counted from the entries (duplicated entries counted again). */
async function streamRequests(prefix: string): Promise<number> {
  let requests = 0;
  for (const [, f] of await client.xrange(`{${prefix}}:metrics`, '-', '+')) {
    for (const m of decodeBatch(fieldsFromArray(f)).metrics) {
      if (m.name === 'http.server.request.duration' && m.type === 'histogram') for (const p of m.points) requests += p.count;
    }
  }
  return requests;
}

async function streamBatchIds(prefix: string): Promise<string[]> {
  return (await client.xrange(`{${prefix}}:metrics`, '-', '+')).map(([, f]) => decodeBatch(fieldsFromArray(f)).batchId);
}

async function applyStream(prefix: string): Promise<AggregatorStats> {
  const aggregator = new Aggregator({ redis: client, mysql: db.conn, keyPrefix: prefix, consumer: 'outage-test', log: () => undefined });
  await aggregator.drainOnce();
  await aggregator.stop();
  return aggregator.stats();
}

const stored = (service: string): Promise<Totals> => storedTotals(db.conn, service);

function startApp(service: string, prefix: string): Promise<InstrumentedProcess> {
  return startInstrumented(APP_PATH, {
    OBW_REGISTER: REGISTER,
    REDIS_URL: redis.url,
    OTEL_SERVICE_NAME: service,
    OTEL_BANDWIDTH_KEY_PREFIX: prefix,
    OTEL_METRIC_EXPORT_INTERVAL: '200',
    OTEL_BANDWIDTH_RETRY_MAX_DELAY: '2000',
  });
}

describe('a Redis outage under the preload', () => {
  it('Redis gone for 30 s while traffic flows: once it is back everything arrives, and MySQL holds exactly what the client sent', async () => {
    const prefix = `${r.prefix}-killed`;
    const app = await startApp('outage-killed', prefix);
    const results = await traffic(app.port, 30);
    await waitFor('the first requests in the stream', async () => ((await streamRequests(prefix)) === 30 ? true : undefined));
    await applyStream(prefix); // Redis keeps nothing on disk: apply what it has before it goes
    expect(await stored('outage-killed')).toEqual(clientTotals(results));
    const before = await preloadStatsOf(app);
    expect(before.exporter).toMatchObject({ pointsPending: 0, retries: 0, pointsDropped: 0 });

    await redis.kill();
    const outageEnds = Date.now() + 30_000;
    let duringOutage = 0;
    while (Date.now() < outageEnds) {
      results.push(await oneRequest(app.port)); // the app serves as usual
      duringOutage++;
      await sleep(50);
    }
    const during = await preloadStatsOf(app);
    expect(during.instrumentation.requests).toBe(results.length);
    expect(during.exporter).toMatchObject({
      batchesExported: before.exporter.batchesExported,
      // every interval of the outage merged into one batch: 2 series x 5 histograms
      pointsPending: 10,
      pointsDropped: 0,
      resends: 0,
      lastError: expect.stringMatching(/ECONNREFUSED/),
    });
    expect(during.exporter.retries).toBeGreaterThan(0);
    expect(during.exporter.failuresInARow).toBe(during.exporter.retries);

    await redis.start(); // empty, on the same port
    results.push(...(await traffic(app.port, 12)));
    await waitFor(
      'the outage and what followed in the stream',
      async () => ((await streamRequests(prefix)) === duringOutage + 12 ? true : undefined),
      60_000,
    );
    const after = await preloadStatsOf(app);
    expect(after.exporter).toMatchObject({ pointsPending: 0, pointsDropped: 0, failuresInARow: 0 });
    expect(after.exporter.lastError).toBeUndefined();
    expect(await app.stop()).toBe(null);

    const applied = await applyStream(prefix);
    expect(applied.duplicateBatches).toBe(0);
    const sent = clientTotals(results);
    expect(sent.requests).toBe(42 + duringOutage);
    expect(await stored('outage-killed')).toEqual(sent);
  });

  it('Redis stopped (SIGSTOP): sends time out, the batch that got no answer is sent again under its id, and MySQL counts it once', async () => {
    const prefix = `${r.prefix}-stopped`;
    const app = await startApp('outage-stopped', prefix);
    const results = await traffic(app.port, 15);
    await waitFor('the first requests in the stream', async () => ((await streamRequests(prefix)) === 15 ? true : undefined));

    redis.pause();
    const pauseEnds = Date.now() + 8000;
    let i = 0;
    while (Date.now() < pauseEnds) {
      results.push(await request(app.port, 'GET', `/items/${++i}`)); // one series only
      await sleep(50);
    }
    const during = await preloadStatsOf(app);
    expect(during.instrumentation.requests).toBe(results.length);
    expect(during.exporter.lastError).toMatch(/timed out after 200 ms/);
    expect(during.exporter.pointsDropped).toBe(0);
    // the batch written as Redis stopped answering is kept as it is (it may be in the stream);
    // what came later is merged beside it: one series, 5 histograms, in each
    expect(during.exporter.pointsPending).toBe(10);
    // later attempts stall in the connection's first command: the batch is not written again
    expect(during.exporter.resends).toBe(0);

    redis.resume();
    results.push(...(await traffic(app.port, 9)));
    const after = await waitFor(
      'everything sent',
      async () => {
        const s = await preloadStatsOf(app);
        return s.exporter.pointsPending === 0 && s.instrumentation.requests === results.length ? s : undefined;
      },
      60_000,
    );
    expect(after.exporter).toMatchObject({ resends: 1, pointsDropped: 0, failuresInARow: 0 });
    expect(await app.stop()).toBe(null);

    const ids = await streamBatchIds(prefix);
    const distinct = new Set(ids).size;
    // the XADD Redis received while stopped was applied when it resumed, and sent again
    expect(ids.length - distinct).toBe(1);
    const applied = await applyStream(prefix);
    expect(applied).toMatchObject({ entriesRead: ids.length, batchesApplied: distinct, duplicateBatches: 1 });
    expect(await stored('outage-stopped')).toEqual(clientTotals(results));
  });
});
