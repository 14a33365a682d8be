/**
 * Exactly once with real processes: aggregator processes (the built package, configured from the
 * environment like the CLI) are killed with SIGKILL inside a flush's transaction before COMMIT,
 * between COMMIT and XACK, and while entries are read and buffered but not flushed; two and three
 * run on one group at once; every batch is delivered twice. Each time a surviving or restarted
 * aggregator finishes, and MySQL holds exactly what the stream carried, to the request and the
 * byte, as computed from the batches themselves; the realtime view's minutes and ten-minute
 * blocks hold each request once.
 */
import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { storageBucketMap } from '@otel-bandwidth/aggregator';
import { DURATION_BOUNDARIES_SECONDS, MINUTE_MS, REALTIME_BLOCK_MS, encodeBatch, fieldsToArray, minuteStart, parseRealtimeField, realtimeBlockStart, type MetricBatch } from '@otel-bandwidth/core';
import { DURATION_BUCKET_COLUMNS } from '@otel-bandwidth/storage';
import { createTestDatabase, createTestRedis, REDIS_URL, type TestDatabase, type TestRedis } from 'test-support';
import { BOUNDS, batch, type PointSpec } from '../../packages/aggregator/test/fixtures';

const FIXTURE = path.join(__dirname, 'fixtures', 'aggregator-process.js');
const BUCKETS = DURATION_BOUNDARIES_SECONDS.length + 1;

let db: TestDatabase;
let r: TestRedis;
const children = new Set<ChildProcess>();

beforeAll(async () => {
  db = await createTestDatabase('e2e_aggregator_exactly_once');
});
beforeEach(async () => {
  r = await createTestRedis('e2e_aggregator_exactly_once');
});
afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  await r.cleanup();
});
afterAll(async () => {
  await db.drop();
});

// ---------------------------------------------------------------------------------------------
// the stream: PROCESSES exporters x INTERVALS batches, every value known

const PROCESSES = 8;
const INTERVALS = 50;
/** exact in binary, and so are their sums in ms */
const DURATIONS_S = [0.0625, 0.125, 0.25, 0.5, 0.0078125];

function pointsOf(p: number, q: number): PointSpec[] {
  const durations = (n: number, k: number): number[] => Array.from({ length: n }, (_, i) => DURATIONS_S[(i + k) % DURATIONS_S.length] as number);
  const c1 = 1 + ((p * 7 + q) % 5);
  const c2 = 1 + ((p + q * 3) % 4);
  const c3 = 1 + (q % 2);
  return [
    { route: '/items/:id', method: 'GET', count: c1, durationsS: durations(c1, p + q), inBytes: 0, outBytes: 100 * c1 + q },
    { route: '/items', method: 'POST', status: 201, count: c2, durationsS: durations(c2, q), inBytes: 37 * c2 + p, outBytes: 11 * c2 },
    { route: '/items/:id', method: 'DELETE', status: 404, count: c3, durationsS: durations(c3, p), inBytes: 0, outBytes: 9 * c3 },
    { route: '/health', method: 'GET', count: 1, durationsS: [0.0078125], inBytes: 0, outBytes: 2 },
  ];
}

function makeBatches(service: string): MetricBatch[] {
  const base = Math.floor(Date.now() / 5000) * 5000 - INTERVALS * 5000;
  const out: MetricBatch[] = [];
  for (let q = 0; q < INTERVALS; q++) {
    for (let p = 0; p < PROCESSES; p++) {
      out.push(batch(`${service}-process-${p}:${q + 1}`, base + q * 5000, base + (q + 1) * 5000, pointsOf(p, q), service));
    }
  }
  return out;
}

interface Totals {
  requests: number;
  inbound: number;
  outbound: number;
  errors: number;
  successes: number;
  durationSumMs: number;
  buckets: number[];
}

/** The stored bucket of a duration: the fixtures' exporter buckets it by BOUNDS, which the aggregator maps onto the stored ones. */
const STORED_BUCKET = storageBucketMap(BOUNDS);
const bucketOf = (s: number): number => {
  const i = BOUNDS.findIndex((b) => s <= b);
  return STORED_BUCKET[i === -1 ? BOUNDS.length : i] as number;
};

/** What metrics_hourly must hold per "METHOD route", summed over hours: from the points themselves. */
function expectedTotals(batches: MetricBatch[], service: string): Record<string, Totals> {
  const out: Record<string, Totals> = {};
  const seen = new Set<string>();
  for (const b of batches) {
    if (seen.has(b.batchId)) continue;
    seen.add(b.batchId);
    const q = Number(b.batchId.split(':')[1]) - 1;
    const p = Number(b.batchId.replace(`${service}-process-`, '').split(':')[0]);
    for (const spec of pointsOf(p, q)) {
      const key = `${spec.method ?? 'GET'} ${spec.route}`;
      const t = (out[key] ??= { requests: 0, inbound: 0, outbound: 0, errors: 0, successes: 0, durationSumMs: 0, buckets: new Array<number>(BUCKETS).fill(0) });
      t.requests += spec.count;
      t.inbound += spec.inBytes;
      t.outbound += spec.outBytes;
      if ((spec.status ?? 200) >= 400) t.errors += spec.count;
      else t.successes += spec.count;
      for (const d of spec.durationsS) {
        t.durationSumMs += d * 1000;
        (t.buckets[bucketOf(d)] as number) += 1;
      }
    }
  }
  return out;
}

const BUCKET_COLUMNS = DURATION_BUCKET_COLUMNS;

async function storedTotals(service: string): Promise<Record<string, Totals>> {
  const [rows] = await db.conn.pool.query(
    `SELECT method, endpoint, SUM(total_requests) AS requests, SUM(total_inbound) AS inbound, SUM(total_outbound) AS outbound,
            SUM(error_count) AS errors, SUM(success_count) AS successes, SUM(duration_sum_ms) AS durationSumMs,
            ${BUCKET_COLUMNS.map((c) => `SUM(${c}) AS ${c}`).join(', ')}
     FROM metrics_hourly WHERE service = ? GROUP BY method, endpoint`,
    [service],
  );
  const out: Record<string, Totals> = {};
  for (const row of rows as Array<Record<string, string | number>>) {
    out[`${row.method} ${row.endpoint}`] = {
      requests: Number(row.requests),
      inbound: Number(row.inbound),
      outbound: Number(row.outbound),
      errors: Number(row.errors),
      successes: Number(row.successes),
      durationSumMs: Number(row.durationSumMs),
      buckets: BUCKET_COLUMNS.map((c) => Number(row[c])),
    };
  }
  return out;
}

async function ledgerCount(service: string): Promise<number> {
  const [rows] = await db.conn.pool.query('SELECT COUNT(*) AS n FROM metrics_batch_ledger WHERE service = ?', [service]);
  return Number((rows as Array<{ n: number }>)[0]?.n);
}

/**
 * The service's requests in the realtime view, over the minute hashes and over the ten-minute
 * block hashes of the batches' time.
 */
async function realtimeRequests(service: string, batches: MetricBatch[]): Promise<{ minutes: number; blocks: number }> {
  const from = minuteStart(Math.min(...batches.map((b) => b.startTimeMs)));
  const to = Math.max(...batches.map((b) => b.endTimeMs));
  const sum = async (keys: string[]): Promise<number> => {
    let n = 0;
    for (const key of keys) {
      for (const [field, value] of Object.entries(await r.redis.hgetall(key))) {
        const parsed = parseRealtimeField(field);
        if (parsed?.stat === 'requests' && parsed.series.service === service) n += Number(value);
      }
    }
    return n;
  };
  const minutes: string[] = [];
  for (let m = from; m <= to; m += MINUTE_MS) minutes.push(r.keys.realtimeMinute(m));
  const blocks: string[] = [];
  for (let b = realtimeBlockStart(from); b <= to; b += REALTIME_BLOCK_MS) blocks.push(r.keys.realtimeBlock(b));
  return { minutes: await sum(minutes), blocks: await sum(blocks) };
}

/**
 * Everything checked that proves "exactly once" for a service. The realtime view is written after
 * the commit and the acknowledgement, so a process killed between the two leaves its flush out of
 * it (`realtime: 'at most'`); it never counts a batch twice, in its minutes or its blocks.
 */
async function expectExactlyOnce(service: string, batches: MetricBatch[], realtime: 'exact' | 'at most' = 'exact'): Promise<void> {
  const expected = expectedTotals(batches, service);
  expect(await storedTotals(service)).toEqual(expected);
  const unique = new Set(batches.map((b) => b.batchId)).size;
  expect(await ledgerCount(service)).toBe(unique);
  const requests = Object.values(expected).reduce((n, t) => n + t.requests, 0);
  const bytes = Object.values(expected).reduce((n, t) => n + t.inbound + t.outbound, 0);
  const [daily] = await db.conn.pool.query(
    'SELECT SUM(total_requests) AS requests, SUM(total_bandwidth) AS bytes FROM metrics_daily WHERE service = ?',
    [service],
  );
  expect((daily as Array<{ requests: string; bytes: string }>).map((d) => [Number(d.requests), Number(d.bytes)])).toEqual([[requests, bytes]]);
  // nothing was given up on
  expect(await r.redis.xlen(r.keys.deadLetter)).toBe(0);
  const view = await realtimeRequests(service, batches);
  expect(view.blocks).toBe(view.minutes);
  if (realtime === 'exact') expect(view.minutes).toBe(requests);
  else expect(view.minutes).toBeLessThanOrEqual(requests);
}

// ---------------------------------------------------------------------------------------------
// stream writing and aggregator processes

/** XADDs the batches (pipelined), returning the last entry id. */
async function writeStream(batches: MetricBatch[]): Promise<string> {
  let last = '';
  for (let i = 0; i < batches.length; i += 50) {
    const pipeline = r.redis.pipeline();
    for (const b of batches.slice(i, i + 50)) pipeline.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b)));
    for (const [err, id] of (await pipeline.exec()) ?? []) {
      if (err) throw err;
      last = String(id);
    }
  }
  return last;
}

interface Stats {
  batchesApplied: number;
  duplicateBatches: number;
  deadLettered: number;
  flushes: number;
}
interface FaultMessage {
  fault: string;
  flush: { entries: number; batches: number };
  stats: Stats;
}

interface AggregatorProcess {
  child: ChildProcess;
  output: () => string;
  /** resolves when the process reaches its fault */
  fault: Promise<FaultMessage>;
  kill9(): Promise<void>;
  /** SIGTERM: it flushes and exits 0; resolves with its last stats */
  stop(): Promise<Stats>;
}

async function startAggregator(name: string, env: Record<string, string> = {}): Promise<AggregatorProcess> {
  const child = fork(FIXTURE, [], {
    env: {
      ...process.env,
      REDIS_URL,
      MYSQL_URL: db.url,
      OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
      OTEL_BANDWIDTH_CONSUMER_NAME: name,
      OTEL_BANDWIDTH_FLUSH_INTERVAL: '200',
      OTEL_BANDWIDTH_FLUSH_MAX_ENTRIES: '40',
      OTEL_BANDWIDTH_READ_COUNT: '10',
      OTEL_BANDWIDTH_CLAIM_IDLE: '1000',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  let output = '';
  child.stdout?.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (output += c.toString()));
  const messages: Array<Record<string, unknown>> = [];
  const waiters: Array<{ test: (m: Record<string, unknown>) => boolean; resolve: (m: Record<string, unknown>) => void }> = [];
  child.on('message', (m: Record<string, unknown>) => {
    messages.push(m);
    for (const w of [...waiters]) {
      if (w.test(m)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const next = (test: (m: Record<string, unknown>) => boolean): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const found = messages.find(test);
      if (found) return resolve(found);
      waiters.push({ test, resolve });
      child.once('exit', (code, signal) => reject(new Error(`aggregator ${name} exited (${code ?? signal}): ${output}`)));
    });
  await next((m) => m.started === true);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const fault = next((m) => typeof m.fault === 'string') as Promise<unknown> as Promise<FaultMessage>;
  fault.catch(() => undefined); // only the doomed ones get there
  return {
    child,
    output: () => output,
    fault,
    kill9: async () => {
      child.kill('SIGKILL');
      await exited;
      expect(child.signalCode).toBe('SIGKILL');
    },
    stop: async () => {
      const stopped = next((m) => m.stopped === true);
      child.kill('SIGTERM');
      const m = await stopped;
      await exited;
      expect(child.exitCode).toBe(0);
      return m.stats as Stats;
    },
  };
}

/** Until every entry up to lastId was delivered and acknowledged, and the ledger has every batch. */
async function waitUntilApplied(lastId: string, service: string, batches: number): Promise<void> {
  const deadline = Date.now() + 45_000;
  for (;;) {
    const groups = (await r.redis.xinfo('GROUPS', r.keys.stream)) as Array<Array<string | number>>;
    const info = new Map<string, string | number>();
    const g = groups[0] ?? [];
    for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1] as string | number);
    if (info.get('last-delivered-id') === lastId && Number(info.get('pending')) === 0 && (await ledgerCount(service)) === batches) return;
    if (Date.now() > deadline) throw new Error(`not applied in 45 s: ${JSON.stringify(Object.fromEntries(info))}, ledger ${await ledgerCount(service)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const sum = (stats: Stats[], k: keyof Stats): number => stats.reduce((n, s) => n + s[k], 0);

// ---------------------------------------------------------------------------------------------

describe('exactly once with real aggregator processes', () => {
  it('kill -9 inside the transaction, after the upserts and before COMMIT: the surviving aggregator claims the entries and applies them once', async () => {
    const service = 'eo-before-commit';
    const batches = makeBatches(service);
    const lastId = await writeStream(batches);
    const doomed = await startAggregator('doomed', { OTEL_BANDWIDTH_FAULT: 'crash-before-commit', OTEL_BANDWIDTH_FAULT_AT: '3' });
    const survivor = await startAggregator('survivor');
    const fault = await doomed.fault;
    // mid-way: two flushes of the doomed one committed, the third is inside its transaction
    expect(fault.stats.flushes).toBe(2);
    expect(fault.flush.batches).toBeGreaterThan(0);
    const applied = await ledgerCount(service);
    expect(applied).toBeGreaterThan(0);
    expect(applied).toBeLessThan(batches.length);
    await doomed.kill9();

    await waitUntilApplied(lastId, service, batches.length);
    const stats = await survivor.stop();
    expect(survivor.output()).toMatch(/claimed \d+ entries left pending by other consumers/);
    // the rolled-back flush left nothing in the ledger: the survivor applied it without duplicates
    expect(stats.duplicateBatches).toBe(0);
    expect(fault.stats.batchesApplied + stats.batchesApplied).toBe(batches.length);
    await expectExactlyOnce(service, batches);
  });

  it('kill -9 between COMMIT and XACK: restarted, the aggregator finds the committed batches in the ledger and counts them once', async () => {
    const service = 'eo-before-ack';
    const batches = makeBatches(service);
    const lastId = await writeStream(batches);
    const first = await startAggregator('restarted', { OTEL_BANDWIDTH_FAULT: 'crash-before-ack', OTEL_BANDWIDTH_FAULT_AT: '4' });
    const fault = await first.fault;
    expect(fault.stats.flushes).toBe(3);
    // the fourth flush is committed, its entries are not acknowledged
    expect(await ledgerCount(service)).toBe(fault.stats.batchesApplied + fault.flush.batches);
    await first.kill9();

    const again = await startAggregator('restarted');
    await waitUntilApplied(lastId, service, batches.length);
    const stats = await again.stop();
    // it read its own pending entries again: the committed ones are duplicates, the rest new
    expect(stats.duplicateBatches).toBe(fault.flush.batches);
    expect(fault.stats.batchesApplied + fault.flush.batches + stats.batchesApplied).toBe(batches.length);
    // the fourth flush was committed and never reached the realtime view
    await expectExactlyOnce(service, batches, 'at most');
  });

  it('kill -9 while entries are read and buffered but not flushed: a second aggregator takes them over', async () => {
    const service = 'eo-mid-read';
    const batches = makeBatches(service);
    const lastId = await writeStream(batches);
    // small reads and larger flushes: it holds many entries read and not flushed
    const doomed = await startAggregator('doomed', {
      OTEL_BANDWIDTH_FAULT: 'crash-mid-read',
      OTEL_BANDWIDTH_FAULT_AT: '2',
      OTEL_BANDWIDTH_READ_COUNT: '5',
      OTEL_BANDWIDTH_FLUSH_MAX_ENTRIES: '100',
      OTEL_BANDWIDTH_FLUSH_INTERVAL: '60000',
    });
    const fault = await doomed.fault;
    expect(fault.stats.flushes).toBeGreaterThanOrEqual(2);
    expect(fault.flush.entries).toBeGreaterThan(0);
    expect(fault.flush.entries).toBeLessThanOrEqual(100);
    // what it buffered is not in MySQL
    expect(await ledgerCount(service)).toBe(fault.stats.batchesApplied);
    expect(fault.stats.batchesApplied).toBeLessThan(batches.length);
    await doomed.kill9();

    const second = await startAggregator('second');
    await waitUntilApplied(lastId, service, batches.length);
    const stats = await second.stop();
    expect(second.output()).toMatch(/claimed \d+ entries left pending by other consumers/);
    expect(stats.duplicateBatches).toBe(0);
    expect(fault.stats.batchesApplied + stats.batchesApplied).toBe(batches.length);
    await expectExactlyOnce(service, batches);
  });

  it('two aggregators at once, while the stream is being written', async () => {
    const service = 'eo-two';
    const batches = makeBatches(service);
    const a = await startAggregator('a');
    const b = await startAggregator('b');
    let lastId = '';
    for (let i = 0; i < batches.length; i += 40) {
      lastId = await writeStream(batches.slice(i, i + 40));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await waitUntilApplied(lastId, service, batches.length);
    const stats = [await a.stop(), await b.stop()];
    expect(stats.every((s) => s.batchesApplied > 0)).toBe(true);
    expect(sum(stats, 'batchesApplied')).toBe(batches.length);
    expect(sum(stats, 'duplicateBatches')).toBe(0);
    await expectExactlyOnce(service, batches);
  });

  it('three aggregators at once, every batch delivered twice (the copy in the same read or much later)', async () => {
    const service = 'eo-three-twice';
    const batches = makeBatches(service);
    // every 4th batch right after itself, the others again once the whole stream is written
    const stream: MetricBatch[] = [];
    batches.forEach((b, i) => {
      stream.push(b);
      if (i % 4 === 0) stream.push(b);
    });
    stream.push(...batches.filter((_, i) => i % 4 !== 0).reverse());
    const lastId = await writeStream(stream);
    const aggregators = [await startAggregator('x'), await startAggregator('y'), await startAggregator('z')];
    await waitUntilApplied(lastId, service, batches.length);
    const stats = await Promise.all(aggregators.map((a) => a.stop()));
    expect(sum(stats, 'batchesApplied')).toBe(batches.length);
    expect(sum(stats, 'duplicateBatches')).toBe(batches.length);
    expect(sum(stats, 'deadLettered')).toBe(0);
    await expectExactlyOnce(service, stream);
  });

  it('an aggregator whose commit takes three times the claim idle time keeps its entries: the other one takes nothing from a live aggregator', async () => {
    const service = 'eo-slow-commit';
    const batches = makeBatches(service);
    const lastId = await writeStream(batches);
    // one delivery allowed: an entry claimed from the slow aggregator would be dead-lettered
    const slow = await startAggregator('slow', {
      OTEL_BANDWIDTH_MAX_DELIVERIES: '1',
      OTEL_BANDWIDTH_FAULT: 'slow-commit',
      OTEL_BANDWIDTH_FAULT_AT: '1',
      OTEL_BANDWIDTH_FAULT_MS: '3000',
    });
    const fast = await startAggregator('fast', { OTEL_BANDWIDTH_MAX_DELIVERIES: '1' });
    await slow.fault;
    await waitUntilApplied(lastId, service, batches.length);
    const stats = [await slow.stop(), await fast.stop()];
    expect(sum(stats, 'deadLettered')).toBe(0);
    expect(sum(stats, 'duplicateBatches')).toBe(0);
    expect(sum(stats, 'batchesApplied')).toBe(batches.length);
    expect(fast.output()).not.toMatch(/claimed/);
    await expectExactlyOnce(service, batches);
  });

  it('three aggregators at once, one of them killed inside its transaction', async () => {
    const service = 'eo-three-kill';
    const batches = makeBatches(service);
    const lastId = await writeStream(batches);
    const doomed = await startAggregator('doomed', { OTEL_BANDWIDTH_FAULT: 'crash-before-commit', OTEL_BANDWIDTH_FAULT_AT: '2' });
    const others = [await startAggregator('p'), await startAggregator('q')];
    const fault = await doomed.fault;
    await doomed.kill9();
    await waitUntilApplied(lastId, service, batches.length);
    const stats = await Promise.all(others.map((a) => a.stop()));
    expect(sum(stats, 'duplicateBatches')).toBe(0);
    expect(fault.stats.batchesApplied + sum(stats, 'batchesApplied')).toBe(batches.length);
    await expectExactlyOnce(service, batches);
  });
});
