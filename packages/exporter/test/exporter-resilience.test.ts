/**
 * The exporter when Redis misbehaves: it answers export at once, gives an attempt up after its
 * timeout, keeps what Redis never got in one merged pending batch, sends a batch that got no
 * answer again under the same id (and the aggregator applies it once), backs off with jitter on
 * its own timer, and reports its counters through the diag logger at most once a minute.
 */
import net from 'node:net';
import { DiagLogLevel, diag, type DiagLogger } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { DURATION_BOUNDARIES_SECONDS, decodeBatch, fieldsFromArray } from '@otel-bandwidth/core';
import { RedisMetricExporter, STATS_REPORT_INTERVAL_MILLIS } from '@otel-bandwidth/exporter';
import { REDIS_URL, createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';
import { startPrivateRedis, type PrivateRedis } from '../../../test/support/redis-servers';

/** A reader that collects only when asked. */
class OnDemandReader extends MetricReader {
  constructor() {
    super({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
  }
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

function meters(service = 'resilience') {
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service }), readers: [reader] });
  const meter = provider.getMeter('resilience-test');
  const hits = meter.createCounter('hits');
  const collect = async (): Promise<ResourceMetrics> => (await reader.collect()).resourceMetrics;
  return { provider, meter, hits, collect };
}

/** export, as the reader calls it, resolved with the result */
function exportNow(exporter: RedisMetricExporter, rm: ResourceMetrics): ExportResult | undefined {
  let result: ExportResult | undefined;
  exporter.export(rm, (r) => {
    result = r;
  });
  return result;
}

let r: TestRedis;
let db: TestDatabase;
let redis: PrivateRedis;
const servers: net.Server[] = [];
const sockets = new Set<net.Socket>();
function track(socket: net.Socket): net.Socket {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
  return socket;
}
beforeAll(async () => {
  r = await createTestRedis('exporter_resilience');
  db = await createTestDatabase('exporter_resilience');
  redis = await startPrivateRedis();
});
afterAll(async () => {
  for (const s of servers) s.close();
  for (const s of sockets) s.destroy();
  await redis.close();
  await db.drop();
  await r.cleanup();
});
afterEach(() => diag.disable());

/** Accepts connections, records what arrives on each, never answers. */
async function silentServer(): Promise<{ port: number; received: string[] }> {
  const received: string[] = [];
  const server = net.createServer((socket) => {
    track(socket);
    const i = received.push('') - 1;
    socket.on('data', (b: Buffer) => {
      received[i] += b.toString('latin1');
    });
    socket.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, received };
}

/** Forwards to the shared Redis; answers reach the client only while `passReplies` is true. */
async function replyDroppingProxy(): Promise<{ port: number; passReplies: boolean }> {
  const target = new URL(REDIS_URL);
  const state = { port: 0, passReplies: true };
  const server = net.createServer((client) => {
    track(client);
    const upstream = track(net.createConnection({ host: target.hostname, port: Number(target.port || 6379) }));
    client.on('data', (b: Buffer) => upstream.write(b));
    upstream.on('data', (b: Buffer) => {
      if (state.passReplies) client.write(b);
    });
    const close = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  return state;
}

describe('RedisMetricExporter when Redis misbehaves', () => {
  it('answers export at once while Redis does not answer, and gives an attempt up at sendTimeoutMillis without writing the batch', async () => {
    const silent = await silentServer();
    const exporter = new RedisMetricExporter({
      url: `redis://127.0.0.1:${silent.port}`,
      keyPrefix: `${r.prefix}-a`,
      instanceId: 'silent',
      sendTimeoutMillis: 200,
      retryMinDelayMillis: 3_600_000,
      shutdownTimeoutMillis: 0,
    });
    const m = meters();
    m.hits.add(4, { 'http.route': '/a' });
    // the callback has run by the time export returns, while the attempt waits on Redis
    expect(exportNow(exporter, await m.collect())).toEqual({ code: ExportResultCode.SUCCESS });
    expect(exporter.stats()).toMatchObject({ batchesExported: 0, pointsPending: 1, retries: 0 });

    await exporter.forceFlush(); // waits for the attempt under way, which gives up at 200 ms
    expect(exporter.stats()).toMatchObject({ batchesExported: 0, pointsPending: 1, retries: 1, resends: 0, lastError: 'connecting to Redis timed out after 200 ms' });
    m.hits.add(1, { 'http.route': '/a' });
    exportNow(exporter, await m.collect());
    await exporter.forceFlush();
    expect(exporter.stats()).toMatchObject({ pointsPending: 1, retries: 2, resends: 0, failuresInARow: 2 });

    // a server that does not answer the connection's first command never gets the batch
    expect(silent.received).toHaveLength(2);
    for (const s of silent.received) {
      expect(s).toContain('SETINFO');
      expect(s).not.toContain('XADD');
    }
    await exporter.shutdown();
    expect(exporter.stats()).toMatchObject({ pointsPending: 0, pointsDropped: 1 });
  });

  it('shutdown ends at its deadline even while an attempt begun before it waits out a longer send timeout', async () => {
    const silent = await silentServer();
    const exporter = new RedisMetricExporter({
      url: `redis://127.0.0.1:${silent.port}`,
      keyPrefix: `${r.prefix}-f`,
      sendTimeoutMillis: 3000,
      retryMinDelayMillis: 3_600_000,
      shutdownTimeoutMillis: 500,
    });
    const m = meters();
    m.hits.add(2, { 'http.route': '/a' });
    exportNow(exporter, await m.collect());
    // the export's attempt is connecting (the server never answers) when the shutdown begins
    await new Promise((resolve) => setTimeout(resolve, 50));
    await exporter.shutdown();
    // it ended at its deadline with the attempt still under way: that attempt has not failed yet
    // (it would say "connecting to Redis timed out after 3000 ms")
    expect(exporter.stats()).toMatchObject({ batchesExported: 0, pointsPending: 0, pointsDropped: 1, retries: 0, lastError: undefined });
  });

  it('a batch added without an answer is sent again under the same id, and the aggregator applies it once', async () => {
    const proxy = await replyDroppingProxy();
    const prefix = `${r.prefix}-b`;
    const exporter = new RedisMetricExporter({
      url: `redis://127.0.0.1:${proxy.port}`,
      keyPrefix: prefix,
      instanceId: 'unanswered',
      sendTimeoutMillis: 300,
      retryMinDelayMillis: 3_600_000,
    });
    const m = meters('resend-service');
    const attrs = { 'http.request.method': 'POST', 'http.route': '/orders', 'http.response.status_code': 201 };
    const duration = m.meter.createHistogram('http.server.request.duration', { unit: 's', advice: { explicitBucketBoundaries: [...DURATION_BOUNDARIES_SECONDS] } });
    const inBytes = m.meter.createHistogram('http.server.request.body.size', { unit: 'By' });
    const outBytes = m.meter.createHistogram('http.server.response.body.size', { unit: 'By' });
    const serve = (i: number, o: number): void => {
      duration.record(0.004, attrs);
      inBytes.record(i, attrs);
      outBytes.record(o, attrs);
    };
    serve(120, 30);
    exportNow(exporter, await m.collect());
    await exporter.forceFlush();
    expect(exporter.stats()).toMatchObject({ batchesExported: 1, retries: 0 });

    // the connection is up; Redis takes the next batch but its answer is lost
    proxy.passReplies = false;
    serve(80, 31);
    serve(5, 29);
    exportNow(exporter, await m.collect());
    await exporter.forceFlush();
    expect(exporter.stats()).toMatchObject({ batchesExported: 1, retries: 1, resends: 0, pointsPending: 3, lastError: 'XADD timed out after 300 ms' });
    const stream = `{${prefix}}:metrics`;
    expect(await r.redis.xlen(stream)).toBe(2);

    proxy.passReplies = true;
    await exporter.forceFlush();
    expect(exporter.stats()).toMatchObject({ batchesExported: 2, retries: 1, resends: 1, pointsPending: 0, failuresInARow: 0 });
    const ids = (await r.redis.xrange(stream, '-', '+')).map(([, f]) => decodeBatch(fieldsFromArray(f)).batchId);
    expect(ids).toEqual([`${exporter.instanceId}:1`, `${exporter.instanceId}:2`, `${exporter.instanceId}:2`]);

    const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: prefix, consumer: 'resend', log: () => undefined });
    await aggregator.drainOnce();
    await aggregator.stop();
    expect(aggregator.stats()).toMatchObject({ entriesRead: 3, batchesApplied: 2, duplicateBatches: 1 });
    const [rows] = await db.conn.pool.query(
      `SELECT SUM(total_requests) AS requests, SUM(total_inbound) AS inbound, SUM(total_outbound) AS outbound FROM metrics_hourly WHERE service = 'resend-service'`,
    );
    expect((rows as Array<Record<string, unknown>>).map((x) => ({ requests: Number(x.requests), inbound: Number(x.inbound), outbound: Number(x.outbound) }))).toEqual([
      { requests: 3, inbound: 205, outbound: 90 },
    ]);
    await exporter.shutdown();
  });

  it('keeps what Redis never got as one merged batch, whatever the number of intervals, and sends it under one id', async () => {
    const prefix = `${r.prefix}-c`;
    await redis.kill();
    const exporter = new RedisMetricExporter({ url: redis.url, keyPrefix: prefix, instanceId: 'down', sendTimeoutMillis: 1000, retryMinDelayMillis: 3_600_000 });
    const m = meters();
    for (let i = 1; i <= 5; i++) {
      m.hits.add(i, { 'http.route': '/a' });
      m.hits.add(1, { 'http.route': '/b' });
      exportNow(exporter, await m.collect());
      await exporter.forceFlush();
      // two series, two points, however many intervals were merged
      expect(exporter.stats()).toMatchObject({ batchesExported: 0, pointsPending: 2, retries: i, resends: 0 });
    }
    await redis.start(); // on the same port
    await exporter.forceFlush();
    expect(exporter.stats()).toMatchObject({ batchesExported: 1, pointsExported: 2, pointsPending: 0, failuresInARow: 0 });
    const probe = redis.client();
    const got = (await probe.xrange(`{${prefix}}:metrics`, '-', '+')).map(([, f]) => decodeBatch(fieldsFromArray(f)));
    // ids are taken only by batches that may have reached Redis
    expect(got.map((b) => b.batchId)).toEqual([`${exporter.instanceId}:1`]);
    expect(got[0]!.metrics[0]!.points.map((p) => [p.attributes['http.route'], (p as { value: number }).value])).toEqual([
      ['/a', 15],
      ['/b', 5],
    ]);
    await exporter.shutdown();
  });

  it('retries on its own timer with exponential backoff and jitter; exports meanwhile only hold', async () => {
    const refused = 'redis://127.0.0.1:1';
    // min 40, max 320, jitter 0.25: delay = base/2 + 0.25 * base/2 = 0.625 * base
    const exporter = new RedisMetricExporter({ url: refused, retryMinDelayMillis: 40, retryMaxDelayMillis: 320, random: () => 0.25, shutdownTimeoutMillis: 0 });
    const m = meters();
    m.hits.add(1);
    exportNow(exporter, await m.collect());
    const delays = new Map<number, number | undefined>();
    while (exporter.stats().failuresInARow < 7) {
      const s = exporter.stats();
      if (s.failuresInARow > 0) delays.set(s.failuresInARow, s.retryDelayMillis);
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    expect(Object.fromEntries(delays)).toEqual({ 1: 25, 2: 50, 3: 100, 4: 200, 5: 200, 6: 200 });
    // nothing but the timer made these attempts
    expect(exporter.stats().retries).toBe(exporter.stats().failuresInARow);
    await exporter.shutdown();

    // the jitter spans the upper half of the delay
    const low = new RedisMetricExporter({ url: refused, retryMinDelayMillis: 1000, random: () => 0, shutdownTimeoutMillis: 0 });
    const high = new RedisMetricExporter({ url: refused, retryMinDelayMillis: 1000, random: () => 0.999, shutdownTimeoutMillis: 0 });
    for (const e of [low, high]) {
      m.hits.add(1);
      exportNow(e, await m.collect());
      await e.forceFlush();
    }
    expect([low.stats().retryDelayMillis, high.stats().retryDelayMillis]).toEqual([500, 1000]);

    // while a retry is scheduled, exports merge and wait; forceFlush tries at once
    for (let i = 0; i < 10; i++) {
      m.hits.add(1);
      exportNow(low, await m.collect());
    }
    await new Promise((resolve) => setImmediate(resolve));
    expect(low.stats()).toMatchObject({ retries: 1, pointsPending: 1 });
    await low.forceFlush();
    expect(low.stats()).toMatchObject({ retries: 2, pointsPending: 1 });
    await low.shutdown();
    await high.shutdown();
  });

  it('reports its counters through the diag logger at most once a minute, never per export', async () => {
    const lines: Array<[string, string]> = [];
    const keep = (level: string) => (msg: string) => {
      if (msg.startsWith('otel-bandwidth')) lines.push([level, msg]);
    };
    const logger: DiagLogger = { error: keep('error'), warn: keep('warn'), info: keep('info'), debug: keep('debug'), verbose: keep('verbose') };
    diag.setLogger(logger, { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true });
    let now = 1_000_000;
    const exporter = new RedisMetricExporter({ redis: r.redis, keyPrefix: `${r.prefix}-e`, instanceId: 'report', now: () => now });
    const m = meters();
    const exportOnce = async (): Promise<void> => {
      m.hits.add(1);
      exportNow(exporter, await m.collect());
      await exporter.forceFlush();
    };
    for (let i = 0; i < 300; i++) {
      now += 100;
      await exportOnce();
    }
    expect(lines).toEqual([]); // 300 exports in 30 s
    now = 1_000_000 + STATS_REPORT_INTERVAL_MILLIS;
    await exportOnce();
    // reported once the export's send has ended (while backing off, from within the export: below)
    expect(lines).toEqual([['info', 'otel-bandwidth exporter: 301 batches (301 data points) exported, 0 retries, 0 resends, 0 data points pending, 0 dropped']]);
    for (let i = 0; i < 300; i++) {
      now += 190; // 57 s more
      await exportOnce();
    }
    expect(lines).toHaveLength(1);
    await exporter.shutdown();

    // trouble is a warning, with the reason
    lines.length = 0;
    now = 5_000_000;
    await redis.kill();
    const failing = new RedisMetricExporter({ url: redis.url, instanceId: 'report-2', retryMinDelayMillis: 3_600_000, shutdownTimeoutMillis: 0, now: () => now });
    m.hits.add(1);
    exportNow(failing, await m.collect());
    await failing.forceFlush();
    // the first failure is said at once; the next ones wait for the minute's report
    const atOnce = `otel-bandwidth exporter: Redis did not take the data (connect ECONNREFUSED 127.0.0.1:${redis.port}); holding it and retrying with backoff`;
    expect(lines).toEqual([['warn', atOnce]]);
    await failing.forceFlush();
    expect(lines).toHaveLength(1);
    lines.length = 0;
    now += STATS_REPORT_INTERVAL_MILLIS;
    m.hits.add(1, { other: 'series' });
    exportNow(failing, await m.collect());
    expect(lines).toEqual([
      [
        'warn',
        `otel-bandwidth exporter: 0 batches (0 data points) exported, 2 retries, 0 resends, 2 data points pending, 0 dropped; last failure: connect ECONNREFUSED 127.0.0.1:${redis.port}`,
      ],
    ]);
    await failing.shutdown();
    expect(lines.slice(1)).toEqual([['warn', `otel-bandwidth exporter: shutting down with 2 data points not delivered (connect ECONNREFUSED 127.0.0.1:${redis.port})`]]);
    await redis.start();
  });
});
