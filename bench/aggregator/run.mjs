#!/usr/bin/env node
// pnpm bench:aggregator [-- --services 20 --replicas 10 --series 500 --intervals 12 --scale 10]
//
// How fast a real Aggregator (the built package, default settings unless OTEL_BANDWIDTH_* says
// otherwise) applies a synthetic stream to a fresh MariaDB/MySQL database, and what it costs
// MySQL: data points per second applied, and write transactions and statements per minute from
// the server's own counters (SHOW GLOBAL STATUS deltas). The same again at `scale` times the
// traffic (scale times the processes). Each run drains a backlog: the producer keeps the
// stream full, so the aggregator works at its capacity.
//
// Two readings of the server's counters: the aggregator's own sessions (SHOW SESSION STATUS on
// every connection of its pool, summed: exactly its statements), and the global counters (SHOW
// GLOBAL STATUS deltas), where other clients of the server count too; for those the bench
// measures a quiet interval first and subtracts that rate.
//
// Every run gets its own database (dropped at the end) and key prefix (deleted at the end), and
// the totals in MySQL are checked against what was sent, to the request and the byte.
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import Redis from 'ioredis';
import mysql from 'mysql2/promise';
import { ROOT, expectedTotals, streamShape } from './synthetic.mjs';

const require = createRequire(import.meta.url);
const { Aggregator, readAggregatorConfig } = require(path.join(ROOT, 'packages', 'aggregator', 'dist', 'index.js'));
const { connectMysql, dropDatabase, migrate } = require(path.join(ROOT, 'packages', 'storage', 'dist', 'index.js'));
const { redisKeys } = require(path.join(ROOT, 'packages', 'core', 'dist', 'index.js'));

// ---------------------------------------------------------------------------------------------
// arguments

const defaults = { services: 20, replicas: 10, series: 500, intervals: 12, scale: 10, backlog: 2400, baseline: 10 };
const args = { ...defaults };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '--help' || a === '-h') {
    process.stdout.write(
      `Usage: node bench/aggregator/run.mjs [--services N] [--replicas N] [--series N] [--intervals N] [--scale N] [--backlog N] [--baseline S]\n` +
        `  defaults: ${JSON.stringify(defaults)}\n` +
        `  processes = services x replicas; the second run has scale x the replicas (--scale 1 skips it)\n` +
        `  env: REDIS_URL, MYSQL_BENCH_SERVER_URL (default mysql://root@127.0.0.1:3306), OTEL_BANDWIDTH_* aggregator settings\n`,
    );
    process.exit(0);
  }
  const key = a.replace(/^--/, '');
  if (!(key in defaults) || argv[i + 1] === undefined || !/^\d+$/.test(argv[i + 1])) {
    process.stderr.write(`unknown or incomplete argument ${a} (try --help)\n`);
    process.exit(2);
  }
  args[key] = Number(argv[++i]);
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const SERVER_URL = (process.env.MYSQL_BENCH_SERVER_URL ?? 'mysql://root@127.0.0.1:3306').replace(/\/$/, '');

// ---------------------------------------------------------------------------------------------
// MySQL's counters

const COUNTERS = [
  'Com_begin',
  'Com_commit',
  'Com_rollback',
  'Com_insert',
  'Com_insert_select',
  'Com_update',
  'Com_delete',
  'Com_select',
  'Handler_commit',
  'Questions',
];
const WRITE_STATEMENTS = ['Com_insert', 'Com_insert_select', 'Com_update', 'Com_delete'];

let statusConn;

/** SHOW SESSION STATUS summed over the given connections of a pool (callback API connections) */
async function sessionCounters(connections) {
  const out = { at: performance.now() };
  for (const c of COUNTERS) out[c] = 0;
  for (const conn of connections) {
    const rows = await new Promise((resolve, reject) =>
      conn.query(`SHOW SESSION STATUS WHERE Variable_name IN (${COUNTERS.map(() => '?').join(', ')})`, COUNTERS, (err, r) => (err ? reject(err) : resolve(r))),
    );
    for (const r of rows) out[r.Variable_name] += Number(r.Value);
  }
  return out;
}
async function counters() {
  const [rows] = await statusConn.query(`SHOW GLOBAL STATUS WHERE Variable_name IN (${COUNTERS.map(() => '?').join(', ')})`, COUNTERS);
  const out = { at: performance.now() };
  for (const r of rows) out[r.Variable_name] = Number(r.Value);
  return out;
}
function delta(a, b) {
  const d = { seconds: (b.at - a.at) / 1000 };
  for (const c of COUNTERS) d[c] = (b[c] ?? 0) - (a[c] ?? 0);
  return d;
}
const perMinute = (n, seconds) => (n * 60) / seconds;
const writeStatements = (d) => WRITE_STATEMENTS.reduce((n, c) => n + d[c], 0);

// ---------------------------------------------------------------------------------------------
// cleanup of what a run creates

const cleanups = new Set();
async function cleanupAll() {
  for (const fn of [...cleanups].reverse()) {
    try {
      await fn();
    } catch (err) {
      process.stderr.write(`cleanup: ${err.message}\n`);
    }
  }
  cleanups.clear();
}
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    process.stderr.write(`\n${sig}: cleaning up\n`);
    cleanupAll().finally(() => process.exit(130));
  });
}

async function deleteKeys(redis, prefix) {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `{${prefix}}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
}

// ---------------------------------------------------------------------------------------------
// one run

const fmt = (n, digits = 0) => Number(n).toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

async function run(label, shape) {
  const { processes, entries, points } = streamShape(shape);
  const id = randomBytes(3).toString('hex');
  const dbUrl = `${SERVER_URL}/obw_bench_aggregator_${id}`;
  const prefix = `obw-bench-aggregator-${id}`;
  const keys = redisKeys(prefix);
  process.stdout.write(
    `\n[${label}] ${processes} processes x ${shape.series} series x ${shape.intervals} intervals = ${fmt(entries)} entries, ${fmt(points)} data points\n`,
  );

  await migrate(dbUrl);
  cleanups.add(() => dropDatabase(dbUrl));
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 2 });
  redis.on('error', () => undefined);
  cleanups.add(async () => {
    await deleteKeys(redis, prefix);
    redis.disconnect();
  });
  const conn = connectMysql(dbUrl);
  cleanups.add(() => conn.close());
  // every session the aggregator opens, for its own counters
  const sessions = [];
  conn.pool.pool.on('connection', (c) => sessions.push(c));

  // data time: the minute before now, so the realtime view takes it as it would live data
  const startMs = Math.floor(Date.now() / 5000) * 5000 - shape.intervals * 5000;
  const producer = fork(path.join(ROOT, 'bench', 'aggregator', 'producer.mjs'), [
    JSON.stringify({ redisUrl: REDIS_URL, stream: keys.stream, ...shape, startMs, backlog: args.backlog }),
  ]);
  cleanups.add(() => {
    if (producer.exitCode === null) producer.kill('SIGKILL');
  });
  let produced;
  const producerDone = new Promise((resolve, reject) => {
    producer.on('message', (m) => {
      if (m.done) resolve((produced = m));
    });
    producer.once('exit', (code) => (code === 0 ? resolve(produced) : reject(new Error(`producer exited with ${code}`))));
  });
  const tPrime = performance.now();
  await new Promise((resolve, reject) => {
    producer.on('message', (m) => m.primed && resolve());
    producer.once('exit', (code) => code !== 0 && reject(new Error(`producer exited with ${code}`)));
  });
  process.stdout.write(`  stream primed with ${fmt(await redis.xlen(keys.stream))} entries in ${fmt((performance.now() - tPrime) / 1000, 1)} s\n`);

  const warnings = [];
  const config = readAggregatorConfig({ ...process.env, REDIS_URL, MYSQL_URL: dbUrl, OTEL_BANDWIDTH_KEY_PREFIX: prefix, OTEL_BANDWIDTH_CONSUMER_NAME: 'bench' });
  const aggregator = new Aggregator({ redis, mysql: conn, ...config, log: (level, message) => level !== 'info' && warnings.push(message) });
  const stopAggregator = () => aggregator.stop();
  cleanups.add(stopAggregator);

  const cpu0 = process.cpuUsage();
  const s0 = await sessionCounters(sessions);
  const c0 = await counters();
  const t0 = performance.now();
  const wall0 = Date.now();
  await aggregator.start();
  let s;
  const deadline = Date.now() + Math.max(120_000, (points / 20_000) * 1000);
  for (;;) {
    s = aggregator.stats();
    if (s.batchesApplied + s.duplicateBatches + s.deadLettered >= entries) break;
    if (Date.now() > deadline) throw new Error(`gave up: ${JSON.stringify(s)}; warnings: ${warnings.slice(-3).join(' | ')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const c1 = await counters();
  const s1 = await sessionCounters(sessions);
  const t1 = performance.now();
  const cpu = process.cpuUsage(cpu0);
  const seconds = (s.lastFlushMs - wall0) / 1000;
  cleanups.delete(stopAggregator);
  await aggregator.stop();
  const prod = await producerDone;

  // the totals, to the request and the byte
  const [rows] = await conn.pool.query(
    `SELECT service, SUM(total_requests) AS requests, SUM(total_inbound) AS inbound, SUM(total_outbound) AS outbound,
            SUM(total_inbound_wire) AS inboundWire, SUM(total_outbound_wire) AS outboundWire, SUM(error_count) AS errors
     FROM metrics_hourly GROUP BY service ORDER BY service`,
  );
  const [[ledger]] = await conn.pool.query('SELECT COUNT(*) AS n FROM metrics_batch_ledger');
  const [[daily]] = await conn.pool.query('SELECT SUM(total_requests) AS n FROM metrics_daily');
  const expected = expectedTotals(shape);
  const problems = [];
  if (rows.length !== expected.size) problems.push(`${rows.length} services in metrics_hourly, expected ${expected.size}`);
  let expectedRequests = 0;
  for (const row of rows) {
    const e = expected.get(row.service);
    if (!e) {
      problems.push(`unexpected service ${row.service}`);
      continue;
    }
    expectedRequests += e.requests;
    for (const k of Object.keys(e)) if (Number(row[k]) !== e[k]) problems.push(`${row.service} ${k}: ${row[k]} in MySQL, ${e[k]} sent`);
  }
  if (Number(ledger.n) !== entries) problems.push(`ledger has ${ledger.n} batches, ${entries} sent`);
  if (Number(daily.n) !== expectedRequests) problems.push(`metrics_daily has ${daily.n} requests, ${expectedRequests} sent`);
  if (s.deadLettered > 0) problems.push(`${s.deadLettered} entries dead-lettered`);

  const d = delta(c0, c1);
  const own = delta(s0, s1);
  own.Questions -= sessions.length; // the SHOW SESSION STATUS of s1 itself
  const adjust = (c) => Math.max(0, d[c] - (baselineRate[c] ?? 0) * d.seconds);
  const adjusted = Object.fromEntries(COUNTERS.map((c) => [c, adjust(c)]));
  const result = {
    label,
    processes,
    entries,
    points,
    seconds,
    pointsPerSecond: points / seconds,
    flushes: s.flushes,
    failedFlushes: s.failedFlushes,
    ownTxPerMinute: perMinute(own.Com_commit, d.seconds),
    ownWritesPerMinute: perMinute(writeStatements(own), d.seconds),
    ownStatementsPerMinute: perMinute(own.Questions, d.seconds),
    own,
    sessions: sessions.length,
    txPerMinute: perMinute(d.Com_commit, d.seconds),
    txPerMinuteAdjusted: perMinute(adjusted.Com_commit, d.seconds),
    writesPerMinute: perMinute(writeStatements(d), d.seconds),
    writesPerMinuteAdjusted: perMinute(writeStatements(adjusted), d.seconds),
    handlerCommitPerMinute: perMinute(d.Handler_commit, d.seconds),
    handlerCommitPerMinuteAdjusted: perMinute(adjusted.Handler_commit, d.seconds),
    counters: d,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    producerCpuSeconds: prod.cpuMs / 1000,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    problems,
    warnings: warnings.length,
  };
  process.stdout.write(
    `  applied in ${fmt(seconds, 1)} s (measured window ${fmt((t1 - t0) / 1000, 1)} s): ${fmt(result.pointsPerSecond)} data points/s, ` +
      `${s.flushes} flushes (${s.failedFlushes} failed)\n` +
      `  MySQL, the aggregator's ${sessions.length} sessions: ${own.Com_commit} commits, ${writeStatements(own)} write statements ` +
      `(insert ${own.Com_insert}, insert-select ${own.Com_insert_select}, update ${own.Com_update}, delete ${own.Com_delete}), ` +
      `${own.Questions} statements in all; Handler_commit ${own.Handler_commit}\n` +
      `    per minute: ${fmt(result.ownTxPerMinute, 1)} write transactions, ${fmt(result.ownWritesPerMinute)} write statements, ${fmt(result.ownStatementsPerMinute)} statements\n` +
      `  MySQL, global (raw / minus the quiet rate): commits ${fmt(d.Com_commit)} / ${fmt(adjusted.Com_commit)}, ` +
      `write statements ${fmt(writeStatements(d))} / ${fmt(writeStatements(adjusted))} ` +
      `(insert ${d.Com_insert}, insert-select ${d.Com_insert_select}, update ${d.Com_update}, delete ${d.Com_delete}), ` +
      `Handler_commit ${fmt(d.Handler_commit)} / ${fmt(adjusted.Handler_commit)}\n` +
      `    per minute: ${fmt(result.txPerMinute, 1)} / ${fmt(result.txPerMinuteAdjusted, 1)} write transactions, ` +
      `${fmt(result.writesPerMinute)} / ${fmt(result.writesPerMinuteAdjusted)} write statements\n` +
      `  CPU: aggregator process ${fmt(result.cpuSeconds, 1)} s, producer ${fmt(result.producerCpuSeconds, 1)} s; max RSS ${fmt(result.maxRssMb)} MB; ` +
      `${warnings.length} warnings${warnings.length ? ` (last: ${warnings.at(-1)})` : ''}\n` +
      `  totals in MySQL ${problems.length === 0 ? 'equal what was sent, to the request and the byte' : `DIFFER: ${problems.slice(0, 5).join('; ')}`}\n`,
  );
  await cleanupAll();
  return result;
}

// ---------------------------------------------------------------------------------------------

statusConn = await mysql.createConnection({ uri: `${SERVER_URL}/` });
const [[version]] = await statusConn.query('SELECT VERSION() AS v');
process.stdout.write(
  `otel-bandwidth aggregator benchmark: Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), MySQL ${version.v}\n`,
);
process.stdout.write(`measuring the server's quiet rate for ${args.baseline} s (other clients of the server count in the global counters) ...\n`);
const b0 = await counters();
await new Promise((r) => setTimeout(r, args.baseline * 1000));
const b1 = await counters();
const bd = delta(b0, b1);
const baselineRate = Object.fromEntries(COUNTERS.map((c) => [c, bd[c] / bd.seconds]));
process.stdout.write(
  `  quiet rate: ${fmt(perMinute(bd.Com_commit, bd.seconds), 1)} commits/min, ${fmt(perMinute(writeStatements(bd), bd.seconds), 1)} write statements/min, ` +
    `${fmt(perMinute(bd.Handler_commit, bd.seconds), 1)} Handler_commit/min\n`,
);

const results = [];
let failed = false;
try {
  const base = { services: args.services, replicas: args.replicas, series: args.series, intervals: args.intervals };
  results.push(await run('1x', base));
  if (args.scale > 1) results.push(await run(`${args.scale}x`, { ...base, replicas: base.replicas * args.scale }));
} catch (err) {
  failed = true;
  process.stderr.write(`benchmark failed: ${err.stack ?? err.message}\n`);
} finally {
  await cleanupAll();
  await statusConn.end();
}

if (results.length > 0) {
  process.stdout.write("\nSummary (MySQL figures: the aggregator's own sessions; in brackets the global counters minus the quiet rate)\n");
  process.stdout.write('  run    processes   data points   points/s applied   write tx/min      write statements/min   statements/min   flushes\n');
  for (const r of results) {
    process.stdout.write(
      `  ${r.label.padEnd(5)} ${fmt(r.processes).padStart(10)} ${fmt(r.points).padStart(13)} ${fmt(r.pointsPerSecond).padStart(18)} ` +
        `${`${fmt(r.ownTxPerMinute, 1)} (${fmt(r.txPerMinuteAdjusted, 1)})`.padStart(14)} ${`${fmt(r.ownWritesPerMinute)} (${fmt(r.writesPerMinuteAdjusted)})`.padStart(25)} ` +
        `${fmt(r.ownStatementsPerMinute).padStart(16)} ${String(r.flushes).padStart(9)}\n`,
    );
  }
  const slowest = Math.min(...results.map((r) => r.pointsPerSecond));
  const worstTx = Math.max(...results.map((r) => r.ownTxPerMinute));
  const exact = results.every((r) => r.problems.length === 0);
  const growth = results.length > 1 ? results[results.length - 1].ownTxPerMinute / Math.max(1e-9, results[0].ownTxPerMinute) : 1;
  process.stdout.write('\nTargets\n');
  process.stdout.write(`  ${slowest >= 200_000 ? 'met   ' : 'MISSED'} >= 200,000 data points/s (slowest run: ${fmt(slowest)})\n`);
  process.stdout.write(`  ${worstTx <= 12.5 ? 'met   ' : 'MISSED'} <= 12 write transactions/min at default settings (highest: ${fmt(worstTx, 1)})\n`);
  if (results.length > 1) {
    process.stdout.write(`  ${growth <= 1.1 ? 'met   ' : 'MISSED'} write transactions/min not growing with traffic (${args.scale}x traffic: x${fmt(growth, 2)})\n`);
  }
  process.stdout.write(`  ${exact ? 'met   ' : 'MISSED'} totals in MySQL equal what was sent\n`);
  if (!exact) failed = true;
}
process.exit(failed ? 1 : 0);
