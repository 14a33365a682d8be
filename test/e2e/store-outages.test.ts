/**
 * The aggregator's stores go away under load and come back. A server under the preload keeps
 * receiving traffic and the exporter keeps shipping it to Redis, while a running aggregator's
 * connections to MySQL, or to Redis, go through a relay the test cuts (every connection reset,
 * every new one refused) for a few of its flushes. Either way it must end with every request in
 * metrics_hourly exactly once: nothing lost while its flushes or reads failed, nothing counted
 * twice when they were tried again.
 */
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { connectRedis } from '@otel-bandwidth/cli';
import { connectMysql, type MysqlConnection } from '@otel-bandwidth/storage';
import {
  REDIS_URL,
  clientTotals,
  createTestDatabase,
  createTestRedis,
  request,
  startInstrumented,
  stopAllInstrumented,
  storedTotals,
  tcpProxy,
  waitFor,
  type ClientResult,
  type ClientTotals,
  type TcpProxy,
  type TestDatabase,
  type TestRedis,
} from 'test-support';


let db: TestDatabase;
let r: TestRedis;
let mysqlProxy: TcpProxy;
let viaProxy: MysqlConnection;
beforeAll(async () => {
  db = await createTestDatabase('e2e_store_outages');
  r = await createTestRedis('e2e_store_outages');
  const url = new URL(db.url);
  mysqlProxy = await tcpProxy(Number(url.port || 3306), url.hostname);
  url.port = String(mysqlProxy.port);
  viaProxy = connectMysql(url.toString(), { connectTimeoutMs: 1000 });
});
afterAll(async () => {
  await stopAllInstrumented();
  await viaProxy.close().catch(() => undefined);
  await mysqlProxy.close();
  await db.drop();
  await r.cleanup();
});

type Totals = ClientTotals;

/** What metrics_hourly holds for `service`, read directly (not through a relay). */
const stored = (service: string): Promise<Totals> => storedTotals(db.conn, service);

const sameTotals = (service: string, want: Totals) => async (): Promise<true | undefined> => {
  const got = await stored(service);
  return got.requests === want.requests && got.inbound === want.inbound && got.outbound === want.outbound ? true : undefined;
};

/** `n` rounds of a chunked GET and an upload, on the server at `port`. */
async function traffic(port: number, n: number): Promise<ClientResult[]> {
  const results: ClientResult[] = [];
  for (let i = 0; i < n; i++) {
    results.push(await request(port, 'GET', '/reports'));
    results.push(await request(port, 'POST', `/users/${i}`, 'x'.repeat(100 + i)));
  }
  return results;
}

/** `promise`, or a failure naming `what` once `ms` have passed without it settling. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * 10 rounds of traffic applied; the relay cut; 15 rounds while it is down, until the aggregator has
 * failed 3 flushes (or reads) more and read on; the relay restored; 5 rounds more and the server
 * stopped (its last interval flushed): then MySQL must hold exactly the 60 requests sent. A failure
 * says which step it reached and what the aggregator counted and logged by then.
 */
async function outageUnderLoad(service: string, relay: TcpProxy, aggregator: Aggregator, logged: string[]): Promise<void> {
  const t0 = Date.now();
  const steps: string[] = [];
  const step = (what: string): void => {
    steps.push(`+${Date.now() - t0} ms ${what}: ${JSON.stringify(aggregator.stats())}`);
  };
  try {
    await within(20_000, 'aggregator.start()', aggregator.start());
    step('started');
    const server = await startInstrumented(path.join(__dirname, 'fixtures', 'plain-server.js'), {
      OTEL_SERVICE_NAME: service,
      OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
      OTEL_METRIC_EXPORT_INTERVAL: '300',
    });
    try {
      const results: ClientResult[] = [];
      results.push(...(await traffic(server.port, 10)));
      await waitFor('the first requests in MySQL', sameTotals(service, clientTotals(results)));
      step('the first requests applied');

      relay.cut();
      const before = aggregator.stats();
      results.push(...(await traffic(server.port, 15)));
      await waitFor('failed flushes during the outage', async () => (aggregator.stats().failedFlushes >= before.failedFlushes + 3 ? true : undefined));
      step('three failures more');
      expect(aggregator.stats().lastError).toEqual(expect.any(String));
      // nothing of the outage's traffic applied, nor part of it
      expect(await stored(service)).toEqual({ requests: 20, inbound: 10 * 100 + 45, outbound: 10 * 3256 + 10 * '{"id":"0","received":100}'.length });

      relay.restore();
      results.push(...(await traffic(server.port, 5)));
      const sent = clientTotals(results);
      expect(await within(20_000, 'the instrumented server stopping', server.stop())).toBe(null);
      step('restored, the last traffic sent, the server stopped');
      await waitFor('every request in MySQL after the outage', sameTotals(service, sent), 30_000);
      step('every request applied');
      expect(sent.requests).toBe(60);
      // ... and it stays so: what was tried again is not applied a second time
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await stored(service)).toEqual(sent);
      expect(aggregator.stats().deadLettered).toBe(0);
      expect(logged.some((line) => line.startsWith('warn ') || line.startsWith('error '))).toBe(true);
    } finally {
      await within(20_000, 'aggregator.stop()', aggregator.stop());
      step('stopped');
    }
    const pending = (await r.redis.xpending(r.keys.stream, 'aggregators')) as unknown[];
    expect(pending[0]).toBe(0);
  } catch (err) {
    step('failed');
    throw new Error(`${(err as Error).message}\nsteps:\n${steps.join('\n')}\naggregator's log:\n${logged.join('\n')}`);
  }
}

/** Longer than the waits above together: a failure is theirs, with its steps, not jest's timeout. */
const OUTAGE_TEST_TIMEOUT_MS = 150_000;

describe('outages of the aggregator\'s stores under load', () => {
  it('MySQL: every request reaches metrics_hourly exactly once, through failed flushes and a reconnect', async () => {
    const logged: string[] = [];
    const aggregator = new Aggregator({
      redis: r.redis,
      mysql: viaProxy,
      keyPrefix: r.prefix,
      consumer: 'mysql-outage',
      flushIntervalMs: 300,
      log: (level, message) => logged.push(`${level} ${message}`),
    });
    await outageUnderLoad('e2e-mysql-outage', mysqlProxy, aggregator, logged);
  }, OUTAGE_TEST_TIMEOUT_MS);

  it('Redis: every request reaches metrics_hourly exactly once, through failed reads and acknowledgements and a reconnect', async () => {
    const redisProxy = await tcpProxy(Number(new URL(REDIS_URL).port || 6379), new URL(REDIS_URL).hostname);
    const viaRedisProxy = await within(20_000, 'connecting to Redis through the relay', connectRedis(`redis://127.0.0.1:${redisProxy.port}`));
    const logged: string[] = [];
    const aggregator = new Aggregator({
      redis: viaRedisProxy,
      mysql: db.conn,
      keyPrefix: r.prefix,
      consumer: 'redis-outage',
      flushIntervalMs: 300,
      log: (level, message) => logged.push(`${level} ${message}`),
    });
    try {
      await outageUnderLoad('e2e-redis-outage', redisProxy, aggregator, logged);
    } finally {
      viaRedisProxy.disconnect();
      await redisProxy.close();
    }
  }, OUTAGE_TEST_TIMEOUT_MS);
});
