#!/usr/bin/env node
// What an export costs the app's own thread: at each collection interval the preload turns its
// series into OpenTelemetry's data and the exporter encodes and sends them. In the app's thread
// (OTEL_BANDWIDTH_EXPORT_WORKER=false) that is synchronous work between two of the app's callbacks;
// with the export worker (the default) the app's thread only drains its tables into a pack and
// posts it (packed-snapshot.ts). This measures both at a full table of series, against a bare app.
//
//   node bench/export-stall/run.mjs [--series N] [--rounds N] [--interval MS] [--app-cpus LIST]
//   (pnpm bench:export-stall builds the packages first)
//
// Each round, per variant: one request and a wait for the export it lands in (a new entry on the
// app's stream: the interval starts), one request to each of N distinct routes (N series), then a
// watch of its main thread for one and a half export intervals: the window holds exactly the
// export of those series. Reported per variant, medians
// over rounds: the main thread's CPU time in the window (schedstat, exact), its longest event-loop
// delay, the data points the window's export carried, and RSS; each beside the bare app's.
import { execFileSync, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { cliOptions } from '../overhead/cli-options.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const require = createRequire(path.join(root, 'package.json'));
const { medianInterval } = require(path.join(root, 'bench', 'overhead', 'median-interval.cjs'));
const Redis = require('ioredis');

const HELP = `usage: node bench/export-stall/run.mjs [options]

  --series N        distinct routes requested each round, so series exported each interval
                    (default 1990: a full table at the default cardinality limit of 2000)
  --rounds N        rounds, each variant once a round (default 8)
  --interval MS     the apps' export interval (default 3000)
  --app-cpus LIST   cores the apps (and so the export worker) may run on (default 0: one core,
                    the worker competing with the app's thread); the runner sends from core 1
  --connections N   keep-alive connections a burst is sent over (default 16)
`;

const fail = (message) => {
  process.stderr.write(`bench:export-stall: ${message}\n`);
  process.exit(2);
};
const opts = { series: 1990, rounds: 8, interval: 3000, appCpus: '0', connections: 16 };
for (const o of cliOptions(process.argv.slice(2), fail, HELP)) {
  if (o.flag === '--series') opts.series = o.int(1);
  else if (o.flag === '--rounds') opts.rounds = o.int(1);
  else if (o.flag === '--interval') opts.interval = o.int(500);
  else if (o.flag === '--app-cpus') opts.appCpus = o.value();
  else if (o.flag === '--connections') opts.connections = o.int(1);
  else fail(`unknown option ${o.arg} (--help)`);
}

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const register = path.join(root, 'packages', 'instrumentation', 'dist', 'register.js');
const VARIANTS = {
  bare: { label: 'bare', require: [] },
  'preload-in-thread': { label: 'preload, exporting in the app thread', require: [register], env: { OTEL_BANDWIDTH_EXPORT_WORKER: 'false' } },
  preload: { label: 'preload, export worker (default)', require: [register], env: { OTEL_BANDWIDTH_EXPORT_WORKER: 'true' } },
};
const keyPrefix = (variant) => `bench-stall-${variant}`;
const streamKey = (variant) => `{${keyPrefix(variant)}}:metrics`;

// three letters a route: never taken for an id by the route normaliser
const word = (i) => {
  let s = '';
  for (let k = 0; k < 3; k++, i = Math.floor(i / 26)) s += String.fromCharCode(97 + (i % 26));
  return s;
};
const routes = Array.from({ length: opts.series }, (_, i) => `/r/${word(i)}${i >= 17_576 ? i : ''}`);

function pinSelf() {
  try {
    execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function startApp(variant) {
  const def = VARIANTS[variant];
  // V8's memory reducer left on, as in a service: RSS here is what a service would see
  const nodeArgs = [...def.require.flatMap((r) => ['--require', r]), path.join(here, 'app.cjs')];
  const env = {
    ...process.env,
    OTEL_SERVICE_NAME: 'bench-stall',
    REDIS_URL,
    OTEL_BANDWIDTH_KEY_PREFIX: keyPrefix(variant),
    OTEL_METRIC_EXPORT_INTERVAL: String(opts.interval),
    ...def.env,
  };
  const child = spawn('taskset', ['-c', opts.appCpus, process.execPath, ...nodeArgs], { env, stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
  const port = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      const m = /listening (\d+)/.exec(String(d));
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`${variant} exited (${code}) before listening`)));
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  return { variant, child, port, agent, results: [] };
}

function get(app, route) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: app.port, path: route, agent: app.agent }, (res) => {
        res.resume();
        res.on('end', resolve);
      })
      .on('error', reject);
  });
}

async function burst(app) {
  let next = 0;
  await Promise.all(
    Array.from({ length: opts.connections }, async () => {
      while (next < routes.length) await get(app, routes[next++]);
    }),
  );
}

function watch(app, ms) {
  return new Promise((resolve) => {
    app.child.once('message', resolve);
    app.child.send({ type: 'watch', ms });
  });
}

/**
 * Waits for the app's next export, so that a round starts at the beginning of an interval: one
 * request (an exporter sends nothing for an interval without requests), then the entry it lands in.
 */
async function nextExport(redis, app) {
  const from = await lastId(redis, app.variant);
  await get(app, '/sync');
  const reply = await redis.xread('BLOCK', opts.interval * 3, 'COUNT', 1, 'STREAMS', streamKey(app.variant), from);
  if (reply === null) throw new Error(`${app.variant}: no export within ${opts.interval * 3} ms`);
}

/** Data points in the stream entries after `afterId`. */
async function pointsAfter(redis, variant, afterId) {
  const entries = await redis.xrange(streamKey(variant), `(${afterId}`, '+');
  return entries.map(([, fields]) => Number(fields[fields.indexOf('n') + 1]));
}

async function lastId(redis, variant) {
  const [entry] = await redis.xrevrange(streamKey(variant), '+', '-', 'COUNT', 1);
  return entry === undefined ? '0' : entry[0];
}

async function round(redis, app) {
  const exporting = app.variant !== 'bare';
  if (exporting) await nextExport(redis, app);
  const before = exporting ? await lastId(redis, app.variant) : '0';
  await burst(app);
  // one and a half intervals: the export lands well inside, the one after it well outside
  const watched = await watch(app, (opts.interval * 3) / 2);
  const points = exporting ? await pointsAfter(redis, app.variant, before) : [];
  return { ...watched, points: points.reduce((a, b) => a + b, 0), exports: points.length };
}

const signed = (n) => `${n >= 0 ? '+' : ''}${n.toFixed(1)}`;

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

async function main() {
  const pinned = pinSelf();
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  const names = Object.keys(VARIANTS);
  await redis.del(...names.map(streamKey));
  process.stdout.write(
    `otel-bandwidth export stall benchmark\n` +
      `  ${opts.series} series an export, every ${opts.interval} ms; ${opts.rounds} rounds; apps on cpu ${opts.appCpus}` +
      `${pinned ? ', runner on cpu 1' : ' (taskset failed: runner unpinned)'}; node ${process.version}\n`,
  );
  const apps = [];
  for (const v of names) apps.push(await startApp(v));
  try {
    // warm-up: the first export of a process compiles its path and connects (a one-time cost)
    for (const app of apps) for (let i = 0; i < 2; i++) await round(redis, app);
    for (let r = 0; r < opts.rounds; r++) {
      const order = apps.map((_, i) => apps[(i + r) % apps.length]);
      for (const app of order) {
        const result = await round(redis, app);
        app.results.push(result);
        process.stdout.write(
          `  round ${r + 1}/${opts.rounds}  ${app.variant.padEnd(15)} app thread ${result.cpuMs.toFixed(1).padStart(6)} ms CPU  ` +
            `longest loop delay ${result.maxDelayMs.toFixed(1).padStart(6)} ms  ${String(result.points).padStart(6)} points in ${result.exports} export(s)  RSS ${result.rssMb.toFixed(1)} MB\n`,
        );
      }
    }
  } finally {
    for (const app of apps) {
      app.agent.destroy();
      app.child.kill();
    }
    await redis.del(...names.map(streamKey));
    redis.disconnect();
  }

  const bare = apps[0];
  const rows = [['variant', 'app-thread CPU ms', 'diff (95% CI)', 'longest loop delay ms', 'diff (95% CI)', 'points exported', 'RSS MB', 'diff']];
  for (const app of apps) {
    const isBare = app === bare;
    const diffs = (f) => app.results.map((r, i) => f(r) - f(bare.results[i]));
    const ci = (values) => {
      const i = medianInterval(values, 0.95);
      return i === null ? 'n/a' : `${i.low.toFixed(1)} to ${i.high.toFixed(1)}`;
    };
    const cpuDiffs = diffs((r) => r.cpuMs);
    const delayDiffs = diffs((r) => r.maxDelayMs);
    rows.push([
      VARIANTS[app.variant].label,
      median(app.results.map((r) => r.cpuMs)).toFixed(1),
      isBare ? '' : `${signed(median(cpuDiffs))} (${ci(cpuDiffs)})`,
      median(app.results.map((r) => r.maxDelayMs)).toFixed(1),
      isBare ? '' : `${signed(median(delayDiffs))} (${ci(delayDiffs)})`,
      isBare ? '' : String(median(app.results.map((r) => r.points))),
      median(app.results.map((r) => r.rssMb)).toFixed(1),
      isBare ? '' : signed(median(diffs((r) => r.rssMb))),
    ]);
  }
  for (const app of apps.slice(1)) {
    const short = app.results.filter((r) => r.exports !== 1).length;
    if (short > 0) process.stdout.write(`warning: ${app.variant}: ${short} round(s) whose window did not hold exactly one export\n`);
  }
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  process.stdout.write(`\n${rows.map((r) => r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n')}\n`);
  process.stdout.write(
    '\nPer round, each app\'s window is one and a half export intervals right after it was sent a request on each of\n' +
      `${opts.series} routes; "app-thread CPU" is its main thread's CPU time in the window (the bare app's: its\n` +
      'timers and the watch itself), "longest loop delay" the longest its event loop was held up then;\n' +
      '"diff" is the median of the per-round differences from the bare app of the same round, with a\n' +
      'distribution-free 95% confidence interval. "points exported": data points the window\'s export carried.\n',
  );
}

main().catch((err) => {
  process.stderr.write(`bench:export-stall: ${err.stack ?? err}\n`);
  process.exit(1);
});
