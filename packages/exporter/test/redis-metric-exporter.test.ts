import { decodeBatch, fieldsFromArray } from '@otel-bandwidth/core';
import { RedisMetricExporter } from '@otel-bandwidth/exporter';
import { DiagLogLevel, ValueType, diag } from '@opentelemetry/api';
import { ExportResultCode } from '@opentelemetry/core';
import { AggregationTemporality, DataPointType, MeterProvider, PeriodicExportingMetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { createTestRedis, type TestRedis } from 'test-support';

let r: TestRedis;
beforeAll(async () => {
  r = await createTestRedis('exporter');
});
afterAll(async () => {
  await r.cleanup();
});

function setup(exporter: RedisMetricExporter) {
  const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'exp-test' }), readers: [reader] });
  const meter = provider.getMeter('test-scope');
  return { provider, bytes: meter.createHistogram('http.server.response.body.size', { unit: 'By' }), hits: meter.createCounter('hits') };
}

/** One collection of a counter, by hand; `seen.read` tells whether anything has read its metrics yet. */
function collectionOf(route: string, value: number, seen = { read: false }): ResourceMetrics {
  const scopeMetrics: ResourceMetrics['scopeMetrics'] = [
    {
      scope: { name: 'hand' },
      metrics: [
        {
          descriptor: { name: 'hits', unit: '1', description: '', valueType: ValueType.INT },
          aggregationTemporality: AggregationTemporality.DELTA,
          dataPointType: DataPointType.SUM,
          isMonotonic: true,
          dataPoints: [{ startTime: [1_700_000_000, 0], endTime: [1_700_000_005, 0], attributes: { 'http.route': route }, value }],
        },
      ],
    },
  ];
  return {
    resource: resourceFromAttributes({ 'service.name': 'exp-test' }),
    get scopeMetrics() {
      seen.read = true;
      return scopeMetrics;
    },
  };
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function entries(key: string) {
  return (await r.redis.xrange(key, '-', '+')).map(([id, f]) => ({ id, batch: decodeBatch(fieldsFromArray(f)) }));
}

describe('RedisMetricExporter', () => {
  it('XADDs one decodable entry per export, with delta data and a unique batch id', async () => {
    const exporter = new RedisMetricExporter({ redis: r.redis, keyPrefix: `${r.prefix}-a`, instanceId: 'proc-1' });
    const { provider, bytes, hits } = setup(exporter);
    bytes.record(100, { 'http.route': '/a' });
    bytes.record(50, { 'http.route': '/a' });
    hits.add(3, { 'http.route': '/a' });
    await provider.forceFlush();
    hits.add(2, { 'http.route': '/a' });
    await provider.forceFlush();
    await provider.forceFlush(); // nothing new: no entry

    const got = await entries(`{${r.prefix}-a}:metrics`);
    expect(got.map((e) => e.batch.batchId)).toEqual([`${exporter.instanceId}:1`, `${exporter.instanceId}:2`]);
    expect(exporter.instanceId).toMatch(/^proc-1-[0-9a-f]{8}$/);
    // a process restarted under the same name: its batch ids are new, so the ledger does not skip them
    const restarted = new RedisMetricExporter({ redis: r.redis, keyPrefix: `${r.prefix}-a`, instanceId: 'proc-1' });
    expect(restarted.instanceId).toMatch(/^proc-1-[0-9a-f]{8}$/);
    expect(restarted.instanceId).not.toBe(exporter.instanceId);
    await restarted.shutdown();
    const first = got[0]!.batch;
    expect(first.resource['service.name']).toBe('exp-test');
    const hist = first.metrics.find((m) => m.name === 'http.server.response.body.size');
    expect(hist).toMatchObject({ type: 'histogram', temporality: 'delta', scope: 'test-scope', unit: 'By' });
    expect(hist?.points.map((p) => ({ ...p, startTimeMs: 0, endTimeMs: 0 }))).toEqual([
      expect.objectContaining({ attributes: { 'http.route': '/a' }, count: 2, sum: 150, min: 50, max: 100 }),
    ]);
    const second = got[1]!.batch;
    expect(second.metrics).toEqual([expect.objectContaining({ name: 'hits', type: 'sum', temporality: 'delta', monotonic: true, points: [expect.objectContaining({ value: 2 })] })]);
    expect(exporter.stats()).toMatchObject({ batchesExported: 2, retries: 0, pointsPending: 0, pointsDropped: 0 });
    await provider.shutdown();
  });

  it('holds data while the stream is at its limit, merged into one pending batch, then sends it as one entry', async () => {
    const key = `{${r.prefix}-b}:metrics`;
    await r.redis.xadd(key, '*', 'filler', '1');
    await r.redis.xadd(key, '*', 'filler', '2');
    const exporter = new RedisMetricExporter({ redis: r.redis, keyPrefix: `${r.prefix}-b`, instanceId: 'proc-2', maxStreamLength: 2, retryMinDelayMillis: 3_600_000 });
    const { provider, hits } = setup(exporter);
    hits.add(5, { 'http.route': '/x' });
    await provider.forceFlush();
    hits.add(7, { 'http.route': '/x' });
    hits.add(1, { 'http.route': '/y' });
    await provider.forceFlush();
    expect(await r.redis.xlen(key)).toBe(2);
    // each forceFlush makes one attempt: the export starts it and the exporter's flush waits for it
    // (the second export only holds: a retry is scheduled; the flush then tries)
    expect(exporter.stats()).toMatchObject({ batchesExported: 0, retries: 2, pointsPending: 2 });
    expect(exporter.stats().lastError).toContain('holding data locally');

    await r.redis.del(key); // an aggregator caught up
    await provider.forceFlush();
    const got = await entries(key);
    // nothing was added while the stream was full: one batch, one id, the intervals summed
    expect(got.map((e) => e.batch.batchId)).toEqual([`${exporter.instanceId}:1`]);
    const values = got.map((e) => e.batch.metrics[0]!.points.map((p) => [p.attributes['http.route'], (p as { value: number }).value]));
    expect(values).toEqual([[['/x', 12], ['/y', 1]]]);
    expect(exporter.stats()).toMatchObject({ batchesExported: 1, pointsExported: 2, pointsPending: 0, pointsDropped: 0, failuresInARow: 0, lastError: undefined });
    await provider.shutdown();
  });

  it("converts a collection in a later turn of the event loop than export(), and counts one it cannot convert", async () => {
    const key = `{${r.prefix}-d}:metrics`;
    const exporter = new RedisMetricExporter({ redis: r.redis, keyPrefix: `${r.prefix}-d`, instanceId: 'proc-4' });
    const answers: ExportResultCode[] = [];
    const seen = { read: false };
    exporter.export(collectionOf('/a', 4, seen), (result) => answers.push(result.code));
    expect(answers).toEqual([ExportResultCode.SUCCESS]);
    expect(seen.read).toBe(false); // export() only took it
    await nextTurn();
    expect(seen.read).toBe(true);
    // converted and now being encoded, over turns of its own: still counted as pending
    expect(exporter.stats()).toMatchObject({ batchesExported: 0, pointsPending: 1 });
    await exporter.forceFlush();

    // a histogram point without buckets: the conversion throws
    const errors: string[] = [];
    const ignore = () => undefined;
    diag.setLogger({ error: (message: string) => errors.push(message), warn: ignore, info: ignore, debug: ignore, verbose: ignore }, DiagLogLevel.ERROR);
    const broken = collectionOf('/broken', 1);
    const metric = broken.scopeMetrics[0]!.metrics[0]!;
    Object.assign(metric, { dataPointType: DataPointType.HISTOGRAM, dataPoints: [{ ...metric.dataPoints[0], value: { count: 1, sum: 1 } }] });
    exporter.export(broken, (result) => answers.push(result.code));
    exporter.export(collectionOf('/b', 2), (result) => answers.push(result.code));
    await exporter.forceFlush();

    expect(answers).toEqual([ExportResultCode.SUCCESS, ExportResultCode.SUCCESS, ExportResultCode.SUCCESS]);
    const got = await entries(key);
    expect(got.map((e) => e.batch.batchId)).toEqual([`${exporter.instanceId}:1`, `${exporter.instanceId}:2`]);
    expect(got.map((e) => e.batch.metrics[0]!.points.map((p) => [p.attributes['http.route'], (p as { value: number }).value]))).toEqual([[['/a', 4]], [['/b', 2]]]);
    expect(exporter.stats()).toMatchObject({ batchesExported: 2, pointsExported: 2, pointsPending: 0, pointsDropped: 1 });
    diag.disable();
    expect(errors).toEqual([
      "otel-bandwidth exporter: collection not convertible: Cannot read properties of undefined (reading 'boundaries') (1 data points dropped)",
    ]);
    await exporter.shutdown();
  });

  it('answers within its timeout when Redis does not, never throws, and counts what it holds', async () => {
    const exporter = new RedisMetricExporter({
      url: 'redis://127.0.0.1:1',
      keyPrefix: `${r.prefix}-c`,
      sendTimeoutMillis: 300,
      retryMinDelayMillis: 3_600_000,
      shutdownTimeoutMillis: 300,
    });
    const { provider, hits } = setup(exporter);
    hits.add(1);
    await provider.forceFlush(); // resolves: the connection was refused, the data is held
    expect(exporter.stats()).toMatchObject({ batchesExported: 0, retries: 1, pointsPending: 1, failuresInARow: 1 });
    expect(exporter.stats().lastError).toMatch(/ECONNREFUSED/);
    await provider.shutdown(); // tries until shutdownTimeoutMillis, then gives up what is left
    expect(exporter.stats()).toMatchObject({ pointsPending: 0, pointsDropped: 1 });
  });
});
