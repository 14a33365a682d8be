#!/usr/bin/env node
// Cost of one export of the RedisMetricExporter at 2,000 series, each with the instrumentation's
// five histograms (request duration, request and response body size, request and response bytes
// on the wire), shaped as BandwidthMetricProducer hands them over: delta temporality, the
// duration's 19 explicit boundaries, one bucket for the sizes.
//
//   node bench/exporter/run.mjs [--series N] [--runs N] [--warmup N]
//   (pnpm bench:exporter builds the packages first)
//
// Measures, over many runs in this process (interleaved with the baselines), against the Redis
// at REDIS_URL (default redis://127.0.0.1:6379):
//   - export: exporter.export() then forceFlush(): conversion, encoding and the XADD (EVAL) round
//     trip, as a periodic export pays it;
//   - encode: encoding into the wire format alone, no I/O;
//   - bytes per stream entry: the entry's field names and values, and Redis's own MEMORY USAGE
//     of the stream divided by its entries;
//   - JavaScript heap allocated per operation: V8's sampling heap profiler (through node:inspector,
//     one sample per 1 KiB allocated, objects collected since included) over a further batch of
//     runs of each operation; what an export allocates is what its process's heap must absorb;
// and, in the same run, baselines on the same data: JSON.stringify of it, and a plain XADD of
// that string. The machine is noisy, so the ratios to the baselines are the figures to compare.
// Deletes the key it creates.
import { createRequire } from 'node:module';
import inspector from 'node:inspector';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const require = createRequire(path.join(root, 'package.json'));

const { OTEL_POINTS, RedisMetricExporter, resourceMetricsView } = require(path.join(root, 'packages', 'exporter', 'dist', 'index.js'));
const core = require(path.join(root, 'packages', 'core', 'dist', 'index.js'));
const { AggregationTemporality, DataPointType } = require('@opentelemetry/sdk-metrics');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const Redis = require('ioredis');

function option(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  if (i === -1) return fallback;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v <= 0) {
    process.stderr.write(`--${name} takes a positive whole number\n`);
    process.exit(2);
  }
  return v;
}
if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write('usage: node bench/exporter/run.mjs [--series N (2000)] [--runs N (300)] [--warmup N (30)]\n');
  process.exit(0);
}
const SERIES = option('series', 2000);
const RUNS = option('runs', 300);
const WARMUP = option('warmup', 30);
/** runs of each operation under the sampling heap profiler */
const ALLOCATION_RUNS = 20;
const REDIS_URL = process.env.REDIS_URL ?? core.DEFAULT_REDIS_URL;

// ---------------------------------------------------------------------------------------------
// the data: one collection as BandwidthMetricProducer produces it

const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH'];
const STATUSES = [200, 201, 204, 301, 304, 400, 401, 404, 422, 500];

function seriesAttributes(i) {
  const status = STATUSES[i % STATUSES.length];
  const attrs = {
    'http.request.method': METHODS[i % METHODS.length],
    'http.route': `/api/v1/resource-${Math.floor(i / 10)}/:id/items`,
    'http.response.status_code': status,
    'url.scheme': 'http',
    'network.protocol.version': '1.1',
  };
  if (status >= 500) attrs['error.type'] = String(status);
  return attrs;
}

function resourceMetrics(series, startMs, endMs) {
  const startTime = [Math.floor(startMs / 1000), (startMs % 1000) * 1e6];
  const endTime = [Math.floor(endMs / 1000), (endMs % 1000) * 1e6];
  const boundaries = [...core.DURATION_BOUNDARIES_SECONDS];
  // the size histograms' points share one empty boundary list, as the producer's do
  const noBoundaries = [];
  const durations = [];
  const requestSizes = [];
  const responseSizes = [];
  const requestWire = [];
  const responseWire = [];
  for (let i = 0; i < series; i++) {
    const attributes = seriesAttributes(i);
    const count = 1 + (i % 97);
    const counts = new Array(boundaries.length + 1).fill(0);
    counts[i % 6] = count - Math.floor(count / 3);
    counts[(i % 6) + 3] = Math.floor(count / 3);
    const inBytes = attributes['http.request.method'] === 'GET' ? 0 : count * (120 + (i % 400));
    const outBytes = count * (300 + ((i * 37) % 20_000));
    const point = (value) => ({ startTime, endTime, attributes, value });
    durations.push(point({ count, sum: count * 0.0123, min: 0.0009, max: 0.21, buckets: { boundaries, counts } }));
    requestSizes.push(point({ count, sum: inBytes, min: 0, max: inBytes, buckets: { boundaries: noBoundaries, counts: [count] } }));
    responseSizes.push(point({ count, sum: outBytes, min: 300, max: outBytes, buckets: { boundaries: noBoundaries, counts: [count] } }));
    requestWire.push(point({ count, sum: inBytes + count * 180, buckets: { boundaries: noBoundaries, counts: [count] } }));
    responseWire.push(point({ count, sum: outBytes + count * 140, buckets: { boundaries: noBoundaries, counts: [count] } }));
  }
  const histogram = (name, unit, description, dataPoints) => ({
    descriptor: { name, unit, description, valueType: 1 },
    aggregationTemporality: AggregationTemporality.DELTA,
    dataPointType: DataPointType.HISTOGRAM,
    dataPoints,
  });
  return {
    resource: resourceFromAttributes({ 'service.name': 'bench-exporter', 'telemetry.sdk.language': 'nodejs', 'host.name': 'bench' }),
    scopeMetrics: [
      {
        scope: { name: core.INSTRUMENTATION_SCOPE_NAME, version: '0.1.0' },
        metrics: [
          histogram(core.METRIC_SERVER_DURATION, 's', 'Duration of HTTP server requests.', durations),
          histogram(core.METRIC_SERVER_REQUEST_BODY_SIZE, 'By', 'Size of HTTP server request bodies, as read.', requestSizes),
          histogram(core.METRIC_SERVER_RESPONSE_BODY_SIZE, 'By', 'Size of HTTP server response bodies, as written.', responseSizes),
          histogram(core.METRIC_SERVER_REQUEST_WIRE_SIZE, 'By', 'Bytes of HTTP server requests on the wire, headers and framing included.', requestWire),
          histogram(core.METRIC_SERVER_RESPONSE_WIRE_SIZE, 'By', 'Bytes of HTTP server responses on the wire, headers and framing included.', responseWire),
        ],
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// measuring

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const elapsedMs = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const summary = (ms) => {
  const sorted = [...ms].sort((a, b) => a - b);
  return { median: percentile(sorted, 50), p99: percentile(sorted, 99) };
};
const f2 = (x) => x.toFixed(2);
const f3 = (x) => x.toFixed(3);
const n0 = (x) => Math.round(x).toLocaleString('en-US');

/** Bytes of JavaScript heap that `runs` calls of `operation` allocate, each (sampled, see above). */
async function allocatedPerRun(operation, runs) {
  const session = new inspector.Session();
  session.connect();
  const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
  try {
    await post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    for (let i = 0; i < runs; i++) await operation(i);
    const { profile } = await post('HeapProfiler.stopSampling');
    let bytes = 0;
    for (const sample of profile.samples) bytes += sample.size;
    return bytes / runs;
  } finally {
    session.disconnect();
  }
}

async function main() {
  const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  try {
    await redis.connect();
  } catch (err) {
    process.stderr.write(`Redis at ${core.redactUrl(REDIS_URL)} does not answer (${err.message}); start it or point REDIS_URL at one.\n`);
    process.exit(1);
  }
  const prefix = `otel-bandwidth-bench-exporter-${process.pid}-${Date.now()}`;
  const { stream } = core.redisKeys(prefix);
  try {
    const now = Date.now();
    const rm = resourceMetrics(SERIES, now - 5000, now);
    const points = SERIES * 5;
    const plain = { resource: rm.resource.attributes, scopeMetrics: rm.scopeMetrics };
    const exporter = new RedisMetricExporter({ redis, keyPrefix: prefix, instanceId: 'bench', maxStreamLength: 1_000_000 });

    let entryBytes = 0;
    let jsonBytes = 0;
    const operations = {
      // encoding alone: what an export does before any I/O, as the exporter does it with nothing
      // held (OpenTelemetry's points read in place, the body as bytes, ready for the socket)
      encode: async (i) => {
        const view = resourceMetricsView(rm);
        const steps = core.encodeBatchOfStepwise({ ...view, batchId: `bench:${i}` }, OTEL_POINTS);
        let step = steps.next();
        while (step.done !== true) step = steps.next();
        const fields = core.fieldsToArray(step.value);
        entryBytes = fields.reduce((sum, f) => sum + Buffer.byteLength(f), 0);
      },
      // a periodic export: export() then forceFlush(), into Redis
      export: async () => {
        await new Promise((resolve, reject) =>
          exporter.export(rm, (result) => (result.code === 0 ? resolve() : reject(result.error ?? new Error('export failed')))),
        );
        await exporter.forceFlush();
      },
      // baselines on the same data
      stringify: async () => {
        jsonBytes = Buffer.byteLength(JSON.stringify(plain));
      },
      stringifyXadd: async () => {
        await redis.xadd(stream, '*', 'body', JSON.stringify(plain));
      },
    };
    const names = Object.keys(operations);
    const times = Object.fromEntries(names.map((k) => [k, []]));
    // interleaved, in a rotating order, so that the machine's noise hits every operation alike;
    // the stream is emptied between runs (not timed) so that Redis does not grow
    for (let i = 0; i < WARMUP + RUNS; i++) {
      for (let j = 0; j < names.length; j++) {
        const name = names[(i + j) % names.length];
        const t0 = process.hrtime.bigint();
        await operations[name](i);
        const ms = elapsedMs(t0);
        if (i >= WARMUP) times[name].push(ms);
        await redis.del(stream);
      }
    }
    const stats = exporter.stats();
    if (stats.batchesExported !== WARMUP + RUNS || stats.pointsPending !== 0 || stats.retries !== 0) {
      throw new Error(`the exporter did not send every run: ${JSON.stringify(stats)}`);
    }

    // Redis's own memory for the entries: ten of them
    for (let i = 0; i < 10; i++) await operations.export();
    const entries = await redis.xlen(stream);
    const memory = Number(await redis.call('MEMORY', 'USAGE', stream, 'SAMPLES', '0'));
    await redis.del(stream);

    // heap allocated per run, each operation on its own (the stream emptied as above, not counted)
    const allocated = {};
    for (const name of names) {
      allocated[name] = await allocatedPerRun(async (i) => {
        await operations[name](i);
      }, ALLOCATION_RUNS);
      await redis.del(stream);
    }

    const e = summary(times.export);
    const c = summary(times.encode);
    const s = summary(times.stringify);
    const x = summary(times.stringifyXadd);
    const out = [
      `RedisMetricExporter, one export of ${n0(SERIES)} series x 5 histograms (${n0(points)} data points); ${RUNS} interleaved runs after ${WARMUP} warm-up; Redis ${core.redactUrl(REDIS_URL)}; Node ${process.version}`,
      '',
      '                                          median ms     p99 ms',
      `export (encode + XADD, forceFlush)       ${f3(e.median).padStart(10)} ${f3(e.p99).padStart(10)}`,
      `encode alone                             ${f3(c.median).padStart(10)} ${f3(c.p99).padStart(10)}`,
      `baseline: JSON.stringify(same data)      ${f3(s.median).padStart(10)} ${f3(s.p99).padStart(10)}`,
      `baseline: stringify + plain XADD         ${f3(x.median).padStart(10)} ${f3(x.p99).padStart(10)}`,
      '',
      `bytes per stream entry: ${n0(entryBytes)} (fields and values; ${f2(entryBytes / points)} per data point); JSON.stringify of the same data: ${n0(jsonBytes)} bytes`,
      `Redis memory per entry: ${n0(memory / entries)} bytes (MEMORY USAGE over ${entries} entries)`,
      '',
      `JavaScript heap allocated per run (sampling heap profiler, ${ALLOCATION_RUNS} runs each): export ${f2(allocated.export / 1e6)} MB, ` +
        `encode alone ${f2(allocated.encode / 1e6)} MB, JSON.stringify ${f2(allocated.stringify / 1e6)} MB, stringify + plain XADD ${f2(allocated.stringifyXadd / 1e6)} MB`,
      '',
      'ratios (medians of the same run):',
      `  encode / JSON.stringify              ${f2(c.median / s.median)}`,
      `  export / (stringify + plain XADD)    ${f2(e.median / x.median)}`,
      `  entry bytes / JSON.stringify bytes   ${f2(entryBytes / jsonBytes)}`,
      `  heap: export / (stringify + XADD)    ${f2(allocated.export / allocated.stringifyXadd)}`,
    ];
    process.stdout.write(`${out.join('\n')}\n`);
  } finally {
    await redis.del(stream).catch(() => undefined);
    redis.disconnect();
  }
}

main().catch((err) => {
  process.stderr.write(`bench:exporter failed: ${err.stack ?? err}\n`);
  process.exit(1);
});
