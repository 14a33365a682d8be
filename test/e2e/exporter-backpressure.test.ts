/**
 * Back-pressure end to end: an app under the preload with OTEL_BANDWIDTH_STREAM_MAX_LENGTH=3 and
 * no aggregator running. The stream stops growing at the limit while the exporter holds what
 * follows, merged into one batch; once an aggregator drains the stream, everything arrives, and
 * exactly once: MySQL equals what the client sent, one ledger row per batch the exporter sent.
 */
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
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
  type TestDatabase,
  type TestRedis,
  preloadStatsOf,
} from 'test-support';

jest.setTimeout(120_000);

const APP_PATH = path.join(__dirname, 'fixtures', 'echo-with-stats.js');

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('exporter_backpressure');
  r = await createTestRedis('exporter_backpressure');
});
afterAll(async () => {
  await stopAllInstrumented();
  await db.drop();
  await r.cleanup();
});

type Totals = ClientTotals;

let n = 0;
/** Traffic for `ms`: GET /items/:id and POST /upload (varying bodies), one every 40 ms. */
async function trafficFor(port: number, ms: number): Promise<ClientResult[]> {
  const out: ClientResult[] = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    n++;
    out.push(await (n % 2 === 0 ? request(port, 'POST', '/upload', 'p'.repeat(50 + (n % 11) * 7)) : request(port, 'GET', `/items/${n}`)));
    await sleep(40);
  }
  return out;
}

const stored = (service: string): Promise<Totals> => storedTotals(db.conn, service);

describe('back-pressure end to end', () => {
  it('the stream stops at OTEL_BANDWIDTH_STREAM_MAX_LENGTH, the exporter holds and merges, and an aggregator draining it gets everything exactly once', async () => {
    const service = 'backpressure-app';
    const app = await startInstrumented(APP_PATH, {
      OBW_REGISTER: REGISTER,
      OTEL_SERVICE_NAME: service,
      OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_BANDWIDTH_STREAM_MAX_LENGTH: '3',
      OTEL_BANDWIDTH_RETRY_MAX_DELAY: '1000',
    });
    const results = await trafficFor(app.port, 2000);
    const full = await waitFor('the stream at its limit', async () => {
      const s = await preloadStatsOf(app);
      return s.exporter.batchesExported === 3 && s.exporter.retries > 0 ? s : undefined;
    });
    expect(await r.redis.xlen(r.keys.stream)).toBe(3);
    expect(full.exporter.lastError).toBe(`stream ${r.keys.stream} holds 3 entries or more; holding data locally`);

    // more intervals: the stream does not grow, the held data stays one batch (2 series x 5 histograms)
    results.push(...(await trafficFor(app.port, 2000)));
    const held = await preloadStatsOf(app);
    expect(await r.redis.xlen(r.keys.stream)).toBe(3);
    expect(held.instrumentation.requests).toBe(results.length);
    expect(held.exporter).toMatchObject({ batchesExported: 3, pointsPending: 10, pointsDropped: 0, resends: 0 });
    expect(held.exporter.retries).toBeGreaterThan(full.exporter.retries);
    expect(await stored(service)).toEqual({ requests: 0, inbound: 0, outbound: 0 });

    // an aggregator drains the stream; the held batch follows
    const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'backpressure', flushIntervalMs: 200, log: () => undefined });
    await aggregator.start();
    const sent = clientTotals(results);
    try {
      await waitFor('MySQL to hold all the traffic', async () => {
        const got = await stored(service);
        return got.requests === sent.requests ? got : undefined;
      }, 60_000);
    } finally {
      await aggregator.stop();
    }
    expect(await stored(service)).toEqual(sent);
    const after = await preloadStatsOf(app);
    expect(after.exporter).toMatchObject({ pointsPending: 0, pointsDropped: 0, resends: 0, failuresInARow: 0 });
    expect(aggregator.stats()).toMatchObject({ batchesApplied: after.exporter.batchesExported, duplicateBatches: 0, deadLettered: 0 });
    const [ledger] = await db.conn.pool.query('SELECT COUNT(*) AS n FROM metrics_batch_ledger WHERE service = ?', [service]);
    expect(Number((ledger as Array<{ n: number | string }>)[0]!.n)).toBe(after.exporter.batchesExported);
    expect(await app.stop()).toBe(null);
  });
});
