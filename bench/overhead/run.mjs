#!/usr/bin/env node
// Overhead of the otel-bandwidth preload on a plain node:http server, beside the stock
// OpenTelemetry HTTP instrumentation (metrics only, and metrics + tracing), every figure a ratio
// (or a difference) against the bare server measured in the same round.
//
//   node bench/overhead/run.mjs [--quick] [--rounds N] [--duration S] [--warmup S]
//                               [--connections N] [--tool wrk|autocannon]
//                               [--handlers json,stream,routes] [--variants bare,preload,...]
//                               [--server-cpu N] [--load-cpu N] [--side-by-side] [--restarts N]
//                               [--memory-reducer] [--out FILE]
//   node bench/overhead/run.mjs --summarise FILE[,FILE...]
//
// Per handler, every variant's server starts once, pinned to one core, and gets an uncounted
// warm-up load; then rounds of short measured runs alternate between the servers (the order
// rotating each round) from a load generator pinned to the other core. The summary takes medians
// over rounds of each variant's comparison with bare in the same round: short alternating windows
// on servers that stay up put the machine's drift on every variant alike. Server CPU time is the
// kernel's exact per-thread run time (/proc/<pid>/task/*/schedstat), not 10 ms ticks.
// With --side-by-side, each variant is instead measured at the same time as bare: both servers on
// the server core, each loaded by its own load generator, so that the core's scheduler splits it
// between them and whatever slows the machine slows both alike.
// See bench/README.md.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { cliOptions } from './cli-options.mjs';
import { medianInterval, verdict } from './median-interval.cjs';
import { EXPORT_INTERVAL_MS, HANDLERS, REDIS_URL, ROUTES_PREFIX, SERVER_ENV, STREAM_KEY, VARIANTS, checkSelection, here, root, serverScript } from './variants.mjs';

// ---------------------------------------------------------------------------------------------
// options

const HELP = `usage: node bench/overhead/run.mjs [options]

  --quick               smoke run: 1 round, 2 s runs, 1 s warm-up
  --rounds N            rounds of alternating measured runs (default 10; env BENCH_ROUNDS)
  --restarts N          start every server afresh N times, each time for --rounds rounds (default 1):
                        V8 compiles each process's request path its own way, by up to ~3 % of a
                        JSON request's instructions, and that choice holds for the process's life,
                        so the figures from one set of processes lean one way; the summary takes
                        the rounds of all N
  --duration S          seconds per measured run (default 3; env BENCH_DURATION)
  --warmup S            seconds of uncounted warm-up load per server (default 6: past the preload's
                        first export, see bench/README.md; env BENCH_WARMUP)
  --connections N       concurrent connections (default 32; env BENCH_CONNECTIONS)
  --tool wrk|autocannon load generator (default: wrk when on PATH, else autocannon; env BENCH_TOOL)
  --handlers LIST       json,stream,routes (default all three; routes needs wrk)
  --variants LIST       bare,preload,otel-http-metrics,otel-http-tracing (default these four; bare is always
                        run); also the reference points finish-listener, server-channels, call-through-wrappers, detached-buffer,
                        exporter-only, preload-in-thread, bare-control (bare again in a process of its own), and
                        preload-other (BENCH_OTHER_PRELOAD: another build's register.js) (bench/README.md)
  --server-cpu N        core for the server (default 0)
  --load-cpu N          core for the load generator (default 1)
  --side-by-side        measure each variant at the same time as bare, both servers sharing the
                        server core, each with its own load generator: the CPU per request of the
                        two is compared under the same machine conditions (steadier on a shared VM;
                        latencies then include waiting for the other server)
  --memory-reducer      leave V8's memory reducer on in the servers (default off, --no-memory-reducer,
                        for every variant alike): after a memory-reducing GC, which V8 starts in a
                        process that has grown its old generation and then idles (as a server does
                        between its runs here), Node 20 serves this benchmark some 25% slower for
                        the rest of the process's life, bare included; each process falls into
                        that state at a moment of its own, which skews the comparison (bench/README.md)
  --out FILE            raw results JSON (default bench/results/overhead-<time>.json)
  --summarise FILES     run nothing: pool the rounds of earlier runs' raw results (comma-separated
                        files, .json or .json.gz, or folders of them; all alternating or all side by
                        side) and print their summary and verdicts, each set of fresh processes
                        kept as one sample (bench/records/ holds the runs the README cites)

Targets for the preload (information only, never the exit status): >= 0.97x bare throughput,
<= 3% added CPU per request, <= +0.2 ms p99, <= +25 MB RSS.
`;

function parseArgs(argv) {
  const env = process.env;
  const opts = {
    rounds: Number(env.BENCH_ROUNDS ?? 10),
    restarts: 1,
    duration: Number(env.BENCH_DURATION ?? 3),
    // past the first export (at 5 s): a process pays once for compiling its export path and
    // connecting to Redis; the measured run is the steady state a long-running service is in
    warmup: Number(env.BENCH_WARMUP ?? EXPORT_INTERVAL_MS / 1000 + 1),
    connections: Number(env.BENCH_CONNECTIONS ?? 32),
    tool: env.BENCH_TOOL || undefined,
    handlers: Object.keys(HANDLERS),
    variants: ['bare', 'preload', 'otel-http-metrics', 'otel-http-tracing'],
    serverCpu: 0,
    loadCpu: 1,
    out: undefined,
    quick: false,
    sideBySide: false,
    memoryReducer: false,
    summarise: undefined,
  };
  const explicit = new Set();
  for (const { arg, flag, value, num } of cliOptions(argv, fail, HELP)) {
    switch (flag) {
      case '--quick':
        opts.quick = true;
        break;
      case '--rounds':
        opts.rounds = Math.floor(num(1));
        explicit.add('rounds');
        break;
      case '--restarts':
        opts.restarts = Math.floor(num(1));
        break;
      case '--duration':
        opts.duration = num(1);
        explicit.add('duration');
        break;
      case '--warmup':
        opts.warmup = num(0);
        explicit.add('warmup');
        break;
      case '--connections':
        opts.connections = Math.floor(num(1));
        break;
      case '--tool':
        opts.tool = value();
        break;
      case '--handlers':
        opts.handlers = value().split(',').filter(Boolean);
        break;
      case '--variants':
        opts.variants = value().split(',').filter(Boolean);
        break;
      case '--server-cpu':
        opts.serverCpu = Math.floor(num(0));
        break;
      case '--load-cpu':
        opts.loadCpu = Math.floor(num(0));
        break;
      case '--out':
        opts.out = path.resolve(value());
        break;
      case '--side-by-side':
        opts.sideBySide = true;
        break;
      case '--memory-reducer':
        opts.memoryReducer = true;
        break;
      case '--summarise':
        opts.summarise = value()
          .split(',')
          .filter(Boolean)
          .flatMap((f) => (isDirectory(f) ? fs.readdirSync(f).filter((n) => /\.json(\.gz)?$/.test(n)).sort().map((n) => path.join(f, n)) : [f]))
          .map((f) => path.resolve(f));
        break;
      default:
        fail(`unknown option ${arg}\n\n${HELP}`);
    }
  }
  if (opts.summarise !== undefined) return opts;
  if (opts.quick) {
    if (!explicit.has('rounds')) opts.rounds = 1;
    if (!explicit.has('duration')) opts.duration = 2;
    if (!explicit.has('warmup')) opts.warmup = 1;
  }
  opts.variants = checkSelection(opts.handlers, opts.variants, fail);
  if (opts.sideBySide && opts.variants.length < 2) fail('--side-by-side compares variants with bare: name at least one besides bare');
  if (opts.tool && opts.tool !== 'wrk' && opts.tool !== 'autocannon') fail('--tool must be wrk or autocannon');
  if (!opts.tool) opts.tool = onPath('wrk') ? 'wrk' : 'autocannon';
  if (opts.tool === 'wrk' && !onPath('wrk')) fail('wrk is not on PATH (apt-get install -y wrk), or use --tool autocannon');
  const spread = opts.handlers.filter((h) => HANDLERS[h].paths !== undefined);
  if (opts.tool === 'autocannon' && spread.length > 0) fail(`the ${spread.join(', ')} handler spreads its requests over many paths, which needs wrk (apt-get install -y wrk)`);
  return opts;
}

function fail(message) {
  process.stderr.write(`bench:overhead: ${message}\n`);
  process.exit(2);
}

function isDirectory(file) {
  try {
    return fs.statSync(file).isDirectory();
  } catch {
    return false;
  }
}

function onPath(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

// ---------------------------------------------------------------------------------------------
// what is measured

const TARGETS = {
  throughputRatioMin: 0.97,
  cpuPerRequestRatioMax: 1.03,
  p99DiffMsMax: 0.2,
  rssDiffMbMax: 25,
};
/** confidence of the intervals around each median, and of the targets' verdicts */
const CONFIDENCE = 0.95;
const CONFIDENCE_LABEL = `${Math.round(CONFIDENCE * 100)}% CI`;
/** fresh sets of processes below which their median has no interval at CONFIDENCE */
const MIN_PROCESSES_FOR_INTERVAL = 6;

// ---------------------------------------------------------------------------------------------
// processes

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** CPU time of every thread of the process, in microseconds: exact where schedstat exists. */
function procCpuMicros(pid) {
  try {
    let ns = 0;
    for (const task of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(fs.readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // a thread that ended between the listing and the read
      }
    }
    if (ns > 0) return ns / 1000;
  } catch {
    // no schedstat (kernel without CONFIG_SCHED_INFO): clock ticks below
  }
  return procCpuTicksMicros(pid);
}

function procCpuTicksMicros(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name (field 2) may hold spaces: count fields from the closing parenthesis
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]); // field 14
  const stime = Number(fields[12]); // field 15
  return ((utime + stime) * 1e6) / CLK_TCK;
}

function procRssKb(pid) {
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function pinnedCommand(cpu, cmd, args, pinning) {
  return pinning.enabled ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
}

const live = new Set();
function killAll() {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
}
process.on('SIGINT', () => {
  killAll();
  process.exit(130);
});
process.on('exit', killAll);

async function startServer(variant, opts, pinning) {
  const def = VARIANTS[variant];
  const nodeArgs = [...(opts.memoryReducer ? [] : ['--no-memory-reducer']), ...def.require.flatMap((r) => ['--require', r]), serverScript];
  const [cmd, args] = pinnedCommand(opts.serverCpu, process.execPath, nodeArgs, pinning);
  const child = spawn(cmd, args, {
    cwd: root,
    env: { ...process.env, ...SERVER_ENV, ...(def.env ?? {}), PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const port = await new Promise((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`${variant} server did not start within 20 s\n${stderr}`)), 20000);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d) => {
      stdout += d;
      const m = /listening (\d+)/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${variant} server exited (${code ?? signal}) before listening\n${stderr}`));
    });
  });
  // taskset execs node in place, so the pid is the server's own
  const comm = fs.readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim();
  if (comm !== 'node' && !comm.startsWith('node')) throw new Error(`pid ${child.pid} is "${comm}", not the node server`);
  return {
    pid: child.pid,
    port,
    stderr: () => stderr,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15000);
      const result = await exited;
      clearTimeout(timer);
      live.delete(child);
      return result;
    },
  };
}

function runChild(cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} exited ${code ?? signal}\n${stderr}${stdout}`));
      else resolve({ stdout, stderr });
    });
  });
}

/**
 * wrk's script for a handler: wrk-report.lua, and for a handler with many paths, a request()
 * before it that takes them in turn (prebuilt once per wrk thread). Kept apart from the others'
 * script: with a request() of its own wrk builds every request through Lua.
 */
function wrkScript(handler) {
  const paths = HANDLERS[handler].paths;
  const report = path.join(here, 'wrk-report.lua');
  if (paths === undefined) return report;
  const file = path.join(os.tmpdir(), `bench-overhead-${handler}-${process.pid}.lua`);
  if (!fs.existsSync(file)) {
    const requests =
      `-- ${HANDLERS[handler].label}\n` +
      `local requests = {}\nlocal n = 0\n` +
      `function init(args)\n  for i = 0, ${paths - 1} do requests[i + 1] = wrk.format('GET', '${ROUTES_PREFIX}' .. i) end\nend\n` +
      `function request()\n  n = n % ${paths} + 1\n  return requests[n]\nend\n`;
    fs.writeFileSync(file, requests + fs.readFileSync(report, 'utf8'));
    process.once('exit', () => fs.rmSync(file, { force: true }));
  }
  return file;
}

// One load run; returns requests, seconds, requests/s, latency percentiles in ms, errors.
async function load(opts, pinning, url, seconds, handler) {
  const timeoutMs = (seconds + 30) * 1000;
  if (opts.tool === 'wrk') {
    const wrkArgs = ['-t1', `-c${opts.connections}`, `-d${seconds}s`, '--latency', '-s', wrkScript(handler), url];
    const [cmd, args] = pinnedCommand(opts.loadCpu, 'wrk', wrkArgs, pinning);
    // wrk has been seen to exit 0 without running its done() hook (no output at all, once in some
    // hundred runs here): such a run is repeated once rather than losing the whole benchmark
    let line;
    for (let attempt = 1; line === undefined; attempt++) {
      const { stdout, stderr } = await runChild(cmd, args, timeoutMs);
      line = stdout.split('\n').find((l) => l.startsWith('WRK_JSON '));
      if (line === undefined && attempt === 2) throw new Error(`no summary from wrk, twice:\n${stdout}${stderr}`);
      if (line === undefined) process.stderr.write(`bench:overhead: wrk gave no summary (${JSON.stringify((stdout + stderr).slice(0, 200))}); running it again\n`);
    }
    const r = JSON.parse(line.slice('WRK_JSON '.length));
    const secs = r.duration_us / 1e6;
    const errors = Object.values(r.errors).reduce((a, b) => a + b, 0);
    return {
      requests: r.requests,
      seconds: secs,
      rps: r.requests / secs,
      bytes: r.bytes,
      latencyMs: { mean: r.latency_us.mean / 1000, p50: r.latency_us.p50 / 1000, p90: r.latency_us.p90 / 1000, p99: r.latency_us.p99 / 1000, max: r.latency_us.max / 1000 },
      errors,
      errorDetail: r.errors,
    };
  }
  const acArgs = [path.join(root, 'node_modules', 'autocannon', 'autocannon.js'), '-c', String(opts.connections), '-d', String(seconds), '-j', url];
  const [cmd, args] = pinnedCommand(opts.loadCpu, process.execPath, acArgs, pinning);
  const { stdout } = await runChild(cmd, args, timeoutMs);
  const r = JSON.parse(stdout.slice(stdout.indexOf('{')));
  const errors = (r.errors ?? 0) + (r.timeouts ?? 0) + (r.non2xx ?? 0);
  return {
    requests: r.requests.total,
    seconds: r.duration,
    rps: r.requests.total / r.duration,
    bytes: r.throughput?.total,
    latencyMs: { mean: r.latency.mean, p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max },
    errors,
    errorDetail: { errors: r.errors, timeouts: r.timeouts, non2xx: r.non2xx },
  };
}

// ---------------------------------------------------------------------------------------------
// Redis: the preload exports to {bench-overhead}:metrics; count what it wrote and leave nothing

async function openRedis() {
  try {
    const { default: Redis } = await import('ioredis');
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1, connectTimeout: 2000, retryStrategy: () => null });
    redis.on('error', () => undefined);
    await redis.connect();
    await redis.ping();
    return redis;
  } catch (err) {
    return { error: err };
  }
}

// The requests the preload's entries count: the sum of the http.server.request.duration
// histogram counts (delta temporality) over every JSON-encoded entry in the stream.
async function readPreloadStream(redis) {
  let entries = 0;
  let requests = 0;
  let cursor = '-';
  for (;;) {
    const batch = await redis.xrange(STREAM_KEY, cursor, '+', 'COUNT', 200);
    for (const [id, fields] of batch) {
      if (id === cursor) continue;
      entries++;
      const f = {};
      for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]] = fields[i + 1];
      if (f.enc !== 'json' || !f.body) continue;
      try {
        for (const metric of JSON.parse(f.body).metrics ?? []) {
          if (metric.name !== 'http.server.request.duration') continue;
          for (const point of metric.points ?? []) requests += Number(point.c) || 0;
        }
      } catch {
        /* not an entry this benchmark can read: counted, not summed */
      }
    }
    if (batch.length < 200) break;
    cursor = batch[batch.length - 1][0];
  }
  return { entries, requests };
}

// ---------------------------------------------------------------------------------------------
// statistics and printing

function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

function summarise(runs, opts) {
  const summary = {};
  for (const handler of opts.handlers) {
    summary[handler] = {};
    const rounds = [...new Set(runs.map((r) => r.round))];
    const byRound = (variant, partner) =>
      rounds.map((round) => runs.find((r) => r.round === round && r.handler === handler && r.variant === variant && (partner === undefined || r.partner === partner)));
    for (const variant of opts.variants) {
      const mine = byRound(variant);
      // side by side, each variant has its own bare run in each round: the one it ran beside
      const bare = byRound('bare', opts.sideBySide && variant !== 'bare' ? variant : undefined);
      const pairs = mine.map((m, i) => [m, bare[i]]).filter(([m, b]) => m && b);
      const abs = (f) => median(mine.filter(Boolean).map(f));
      const rel = (f) => pairs.map(([m, b]) => f(m, b));
      const throughputRatios = rel((m, b) => m.rps / b.rps);
      const cpuRatios = rel((m, b) => m.cpuUsPerRequest / b.cpuUsPerRequest);
      // per set of fresh processes (a restart), the mean of its rounds' CPU ratios: V8's choices
      // hold for a process's life, so these, not the rounds, are the independent samples
      const perProcess = new Map();
      for (const [m, b] of pairs) {
        const restart = m.restart ?? Math.ceil(m.round / opts.rounds);
        perProcess.set(restart, [...(perProcess.get(restart) ?? []), m.cpuUsPerRequest / b.cpuUsPerRequest]);
      }
      const cpuProcessRatios = [...perProcess.values()].map((r) => r.reduce((x, y) => x + y, 0) / r.length);
      const p99Diffs = rel((m, b) => m.latencyMs.p99 - b.latencyMs.p99);
      const rssDiffs = rel((m, b) => m.rssMb - b.rssMb);
      summary[handler][variant] = {
        rounds: pairs.length,
        rps: abs((r) => r.rps),
        cpuUsPerRequest: abs((r) => r.cpuUsPerRequest),
        p50Ms: abs((r) => r.latencyMs.p50),
        p99Ms: abs((r) => r.latencyMs.p99),
        rssMb: abs((r) => r.rssMb),
        serverCpuShare: abs((r) => r.serverCpuShare),
        errors: mine.filter(Boolean).reduce((a, r) => a + r.errors, 0),
        throughputRatio: median(throughputRatios),
        throughputRatioRange: [Math.min(...throughputRatios), Math.max(...throughputRatios)],
        throughputRatioInterval: medianInterval(throughputRatios, CONFIDENCE),
        cpuPerRequestRatio: median(cpuRatios),
        cpuPerRequestRatioRange: [Math.min(...cpuRatios), Math.max(...cpuRatios)],
        cpuPerRequestRatioInterval: medianInterval(cpuRatios, CONFIDENCE),
        cpuPerProcessRatio: median(cpuProcessRatios),
        cpuPerProcessRatioInterval: medianInterval(cpuProcessRatios, CONFIDENCE),
        processes: cpuProcessRatios.length,
        p50DiffMs: median(rel((m, b) => m.latencyMs.p50 - b.latencyMs.p50)),
        p99DiffMs: median(p99Diffs),
        p99DiffMsInterval: medianInterval(p99Diffs, CONFIDENCE),
        rssDiffMb: median(rssDiffs),
        rssDiffMbInterval: medianInterval(rssDiffs, CONFIDENCE),
      };
    }
  }
  return summary;
}

const fmtInt = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '-');
const fmt = (n, d) => (Number.isFinite(n) ? n.toFixed(d) : '-');
const signed = (n, d) => (Number.isFinite(n) ? `${n >= 0 ? '+' : ''}${n.toFixed(d)}` : '-');
const ratio = (n) => (Number.isFinite(n) ? `${n.toFixed(3)}x` : '-');
const interval = (i, d = 2) => (i === null ? 'n/a' : `${i.low.toFixed(d)}-${i.high.toFixed(d)}`);
const signedInterval = (i, d) => (i === null ? 'n/a' : `${signed(i.low, d)} to ${signed(i.high, d)}`);

function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  return rows
    .map((r) => r.map((cell, c) => (c === 0 ? String(cell).padEnd(widths[c]) : String(cell).padStart(widths[c]))).join('  '))
    .join('\n');
}

function printSummary(summary, opts) {
  for (const handler of opts.handlers) {
    process.stdout.write(`\n${HANDLERS[handler].label}\n`);
    const rows = [['variant', 'req/s', 'x bare', `(${CONFIDENCE_LABEL})`, 'CPU us/req', 'x bare', `(${CONFIDENCE_LABEL})`, 'p50 ms', 'diff', 'p99 ms', 'diff', 'RSS MB', 'diff', 'core busy', 'errors']];
    for (const variant of opts.variants) {
      const s = summary[handler][variant];
      const isBare = variant === 'bare';
      rows.push([
        VARIANTS[variant].label,
        fmtInt(s.rps),
        isBare ? '' : ratio(s.throughputRatio),
        isBare ? '' : interval(s.throughputRatioInterval),
        fmt(s.cpuUsPerRequest, 1),
        isBare ? '' : ratio(s.cpuPerRequestRatio),
        isBare ? '' : interval(s.cpuPerRequestRatioInterval),
        fmt(s.p50Ms, 2),
        isBare ? '' : signed(s.p50DiffMs, 2),
        fmt(s.p99Ms, 2),
        isBare ? '' : signed(s.p99DiffMs, 2),
        fmt(s.rssMb, 1),
        isBare ? '' : signed(s.rssDiffMb, 1),
        `${fmt(s.serverCpuShare * 100, 0)}%`,
        String(s.errors),
      ]);
    }
    process.stdout.write(`${table(rows)}\n`);
  }
  process.stdout.write(
    '\nAbsolute figures are medians over rounds; "x bare" and "diff" are medians of the per-round\n' +
      `comparison with the bare server of the same round; "(${CONFIDENCE_LABEL})" is a distribution-free ${CONFIDENCE_LABEL.replace(' CI', '')}\n` +
      'confidence interval for that median (order statistics of the rounds; "n/a" with fewer than 6\n' +
      'rounds). The lowest and highest per-round figures are in the --out file.\n' +
      '"core busy" is the server\'s CPU time over the run\'s wall time: well under 100% means its core\n' +
      'was shared with other work (or the load generator fell short), and req/s then says less than\n' +
      'CPU us/req, which counts only the time the server itself ran.\n' +
      (opts.sideBySide
        ? 'Side by side: each variant ran at the same time as a bare server on the same core, so each got\n' +
          'about half of it; "x bare" compares the two of the same run, and latencies include waiting\n' +
          'for the other server.\n'
        : ''),
  );
}

/** The CPU-per-request target for one way of reading the CPU ratio (its median and interval). */
function cpuTarget(target, value, intervalOf) {
  const percent = (x) => `${signed((x - 1) * 100, 1)}%`;
  return {
    target,
    limit: TARGETS.cpuPerRequestRatioMax,
    good: 'below',
    limitText: `<= +${Math.round((TARGETS.cpuPerRequestRatioMax - 1) * 100)}%`,
    value,
    interval: intervalOf,
    show: percent,
    showInterval: (i) => (i === null ? 'n/a' : `${signed((i.low - 1) * 100, 1)} to ${percent(i.high)}`),
  };
}

/** A target on a difference from bare (p99, RSS): at most `limit` more, in `unit`. */
function differenceTarget(target, limit, unit, digits, value, intervalOf) {
  return {
    target,
    limit,
    good: 'below',
    limitText: `<= +${limit} ${unit}`,
    value,
    interval: intervalOf,
    show: (x) => `${signed(x, digits)} ${unit}`,
    showInterval: (i) => signedInterval(i, digits),
  };
}

function checkTargets(summary, opts) {
  if (!opts.variants.includes('preload')) return [];
  const checks = [];
  const withControl = opts.variants.includes('bare-control');
  // each target: the figure's median, its interval, and which side of the limit is good
  const TARGET_FIGURES = [
    {
      target: 'throughput',
      limit: TARGETS.throughputRatioMin,
      good: 'above',
      limitText: `>= ${TARGETS.throughputRatioMin}x bare`,
      value: (s) => s.throughputRatio,
      interval: (s) => s.throughputRatioInterval,
      show: (x) => ratio(x),
      showInterval: (i) => interval(i, 3),
    },
    cpuTarget('CPU per request', (s) => s.cpuPerRequestRatio, (s) => s.cpuPerRequestRatioInterval),
    // with enough fresh processes for an interval of their own: the process, not the round, as the unit
    ...(opts.restarts >= MIN_PROCESSES_FOR_INTERVAL ? [cpuTarget('CPU, per process', (s) => s.cpuPerProcessRatio, (s) => s.cpuPerProcessRatioInterval)] : []),
    // side by side, each server waits for the other: latency is for the alternating runs to tell
    ...(opts.sideBySide
      ? []
      : [
          differenceTarget('p99 latency', TARGETS.p99DiffMsMax, 'ms', 2, (s) => s.p99DiffMs, (s) => s.p99DiffMsInterval),
        ]),
    differenceTarget('RSS', TARGETS.rssDiffMbMax, 'MB', 1, (s) => s.rssDiffMb, (s) => s.rssDiffMbInterval),
  ];
  for (const handler of opts.handlers) {
    const s = summary[handler].preload;
    // the same figure for bare against bare: how far this run's noise alone moves it
    const control = withControl ? summary[handler]['bare-control'] : undefined;
    for (const f of TARGET_FIGURES) {
      const range = f.interval(s);
      checks.push({
        handler,
        target: f.target,
        value: f.show(f.value(s)),
        interval: f.showInterval(range),
        limit: f.limitText,
        // the median alone against the limit, and what the interval lets the run conclude
        pass: f.good === 'below' ? f.value(s) <= f.limit : f.value(s) >= f.limit,
        verdict: verdict(range, f.limit, f.good),
        ...(control ? { control: f.show(f.value(control)), controlInterval: f.showInterval(f.interval(control)) } : {}),
      });
    }
  }
  process.stdout.write(`\nPreload against its targets (information only; the exit status does not depend on it)\n`);
  const rows = [['handler', 'target', 'measured', CONFIDENCE_LABEL, 'limit', 'verdict', ...(withControl ? ['bare again (control)', CONFIDENCE_LABEL] : [])]];
  for (const c of checks) rows.push([c.handler, c.target, c.value, c.interval, c.limit, c.verdict.toUpperCase(), ...(withControl ? [c.control, c.controlInterval] : [])]);
  process.stdout.write(`${table(rows)}\n`);
  process.stdout.write(
    `"verdict": PASS when the whole ${CONFIDENCE_LABEL} of the median is within the limit, FAIL when it is all\n` +
      'beyond it, UNRESOLVED when it straddles the limit: this run cannot tell (more rounds and\n' +
      '--restarts narrow it; --side-by-side takes the machine\'s drift out of each round).\n',
  );
  if (opts.restarts >= MIN_PROCESSES_FOR_INTERVAL) {
    process.stdout.write(
      `"CPU, per process": each set of fresh processes' mean ratio over its rounds (${opts.handlers.map((h) => `${h} ${summary[h].preload.processes}`).join(', ')} sets), and the\n` +
        'interval of their median: V8 compiles each process its own way for its life, so rounds of one\n' +
        'process are not independent samples, and the interval over processes is the one to trust.\n',
    );
  }
  if (withControl) {
    process.stdout.write(
      '"bare again (control)": the same figures for a second bare server, measured like any variant;\n' +
        'how far they sit from 1.00x and +0 is what this run\'s noise alone does to a comparison.\n',
    );
  }
  return checks;
}

// ---------------------------------------------------------------------------------------------
// main

function detectPinning(opts) {
  const cpus = os.availableParallelism?.() ?? os.cpus().length;
  if (!onPath('taskset')) return { enabled: false, reason: 'taskset not found (util-linux): server and load generator run unpinned' };
  if (opts.serverCpu === opts.loadCpu) return { enabled: false, reason: '--server-cpu equals --load-cpu: running unpinned' };
  for (const cpu of [opts.serverCpu, opts.loadCpu]) {
    if (spawnSync('taskset', ['-c', String(cpu), 'true'], { stdio: 'ignore' }).status !== 0) {
      return { enabled: false, reason: `cannot pin to cpu ${cpu} (${cpus} available): running unpinned` };
    }
  }
  return { enabled: true, reason: `server on cpu ${opts.serverCpu}, load generator on cpu ${opts.loadCpu}` };
}

function toolVersion(tool) {
  if (tool === 'wrk') {
    const r = spawnSync('wrk', ['-v'], { encoding: 'utf8' });
    return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0].trim();
  }
  return `autocannon ${JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'autocannon', 'package.json'), 'utf8')).version}`;
}

/**
 * --summarise: the rounds of earlier runs' raw results as one run's, numbered on from file to
 * file, each file's sets of fresh processes kept apart (a run's rounds of one set share its
 * processes' compiled code, and are one sample of the per-process figures).
 */
function summariseFiles(files) {
  const runs = [];
  const handlers = new Set();
  const variants = new Set();
  let sideBySide;
  let rounds = 0;
  let restarts = 0;
  for (const file of files) {
    let raw;
    try {
      const bytes = fs.readFileSync(file);
      raw = JSON.parse((file.endsWith('.gz') ? zlib.gunzipSync(bytes) : bytes).toString('utf8'));
    } catch (err) {
      fail(`${file}: not a raw results file of this benchmark (${err.message})`);
    }
    const o = raw.options;
    if (!Array.isArray(raw.runs) || o === undefined || !(o.rounds >= 1) || !(o.restarts >= 1)) fail(`${file}: not a raw results file of this benchmark (no options or runs)`);
    sideBySide ??= o.sideBySide === true;
    if (sideBySide !== (o.sideBySide === true)) fail('--summarise pools runs of one kind: all alternating or all side by side');
    for (const h of o.handlers) handlers.add(h);
    for (const v of o.variants) variants.add(v);
    let last = 0;
    for (const run of raw.runs) {
      last = Math.max(last, run.round);
      runs.push({ ...run, round: rounds + run.round, restart: restarts + (run.restart ?? Math.ceil(run.round / o.rounds)) });
    }
    rounds += last;
    restarts += o.restarts;
    process.stdout.write(`  ${path.relative(process.cwd(), file)}: ${last} rounds from ${o.restarts} set(s) of processes, ${o.handlers.join(', ')}, ${o.duration} s runs, started ${raw.startedAt}\n`);
  }
  if (!variants.has('bare')) fail('--summarise needs runs with the bare server');
  const opts = { handlers: [...handlers], variants: ['bare', ...[...variants].filter((v) => v !== 'bare')], sideBySide, rounds, restarts };
  const summary = summarise(runs, opts);
  printSummary(summary, opts);
  checkTargets(summary, opts);
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.summarise !== undefined) {
    process.stdout.write(`otel-bandwidth overhead benchmark: ${opts.summarise.length} earlier run(s) pooled\n`);
    summariseFiles(opts.summarise);
    return;
  }
  const pinning = detectPinning(opts);
  const registerJs = VARIANTS.preload.require[0];
  if ((opts.variants.includes('preload') || opts.variants.includes('preload-in-thread')) && !fs.existsSync(registerJs)) {
    fail(`${path.relative(root, registerJs)} is missing: build first (pnpm bench:overhead does, or npx tsc -b)`);
  }

  const exportsToRedis = opts.variants.includes('preload') || opts.variants.includes('preload-in-thread');
  const redis = exportsToRedis ? await openRedis() : null;
  if (redis?.error) {
    process.stdout.write(`warning: Redis at ${REDIS_URL} does not answer (${redis.error.message}); the preload runs but cannot export\n`);
  } else if (redis) {
    await redis.del(STREAM_KEY);
  }

  const perRound = opts.sideBySide ? opts.variants.length - 1 : opts.variants.length;
  const total = opts.restarts * opts.handlers.length * (opts.variants.length * (opts.warmup + 1) + perRound * opts.rounds * (opts.duration + 0.3));
  process.stdout.write(
    `otel-bandwidth overhead benchmark\n` +
      `  load generator: ${opts.tool} (${toolVersion(opts.tool)}), ${opts.connections} connections, ` +
      `${opts.warmup} s warm-up + ${opts.duration} s measured per run\n` +
      `  per handler: every variant's server up at once, ${opts.warmup} s warm-up each, then ${opts.rounds} round(s)${opts.restarts > 1 ? `, ${opts.restarts} times with fresh servers,` : ''} of ${opts.sideBySide ? 'runs side by side with bare' : 'alternating runs'}; ${opts.handlers.length} handler(s) x ${opts.variants.length} variants ` +
      `(${opts.variants.join(', ')}), about ${Math.ceil(total / 60)} min\n` +
      `  pinning: ${pinning.reason}\n` +
      `  V8's memory reducer: ${opts.memoryReducer ? 'on (--memory-reducer)' : 'off in every server (--no-memory-reducer; see --help)'}\n` +
      `  node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model?.trim()}), load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}\n\n`,
  );

  const startedAt = new Date();
  const loadAvgStart = os.loadavg();
  const runs = [];
  const servers = [];
  let preloadServed = 0;
  for (let restart = 1; restart <= opts.restarts; restart++) {
    for (const handler of opts.handlers) {
      // every variant's server up at once, each warmed up, then alternating measured runs
      if (opts.restarts > 1) process.stdout.write(`  ${handler}: servers started afresh (${restart}/${opts.restarts})\n`);
      const up = new Map();
      try {
        for (const variant of opts.variants) {
          const server = await startServer(variant, opts, pinning);
          up.set(variant, { server, url: `http://127.0.0.1:${server.port}${HANDLERS[handler].path}`, served: 0 });
        }
        for (const variant of opts.variants) {
          const s = up.get(variant);
          if (opts.warmup > 0) s.served += (await load(opts, pinning, s.url, opts.warmup, handler)).requests;
        }
        for (let r = 1; r <= opts.rounds; r++) {
          // rounds numbered on across restarts: a round is one window, wherever its processes started
          const round = (restart - 1) * opts.rounds + r;
          const shift = (round - 1) % opts.variants.length;
          const order = [...opts.variants.slice(shift), ...opts.variants.slice(0, shift)];
          // alternating: one server loaded at a time; side by side: bare and one variant at once
          const steps = opts.sideBySide ? order.filter((v) => v !== 'bare').map((v) => [v, 'bare']) : order.map((v) => [v]);
          for (const step of steps) {
            const measured = await Promise.all(
              step.map(async (variant) => {
                const s = up.get(variant);
                const cpuBefore = procCpuMicros(s.server.pid);
                const result = await load(opts, pinning, s.url, opts.duration, handler);
                return { variant, s, result, cpuUs: procCpuMicros(s.server.pid) - cpuBefore };
              }),
            );
            for (const { variant, s, result, cpuUs } of measured) {
              s.served += result.requests;
              const run = {
                round,
                restart,
                handler,
                variant,
                ...(opts.sideBySide ? { partner: variant === 'bare' ? step[0] : 'bare' } : {}),
                ...result,
                serverCpuUs: cpuUs,
                cpuUsPerRequest: result.requests > 0 ? cpuUs / result.requests : NaN,
                serverCpuShare: cpuUs / 1e6 / result.seconds,
                rssMb: procRssKb(s.server.pid) / 1024,
              };
              runs.push(run);
              process.stdout.write(
                `  round ${String(round).padStart(2)}/${opts.rounds * opts.restarts}  ${handler.padEnd(6)}  ${variant.padEnd(17)}  ` +
                  `${run.partner && variant === 'bare' ? `(beside ${run.partner})  ` : ''}` +
                  `${fmtInt(run.rps).padStart(7)} req/s  ${fmt(run.cpuUsPerRequest, 1).padStart(6)} us/req  ` +
                  `p50 ${fmt(run.latencyMs.p50, 2)} ms  p99 ${fmt(run.latencyMs.p99, 2)} ms  RSS ${fmt(run.rssMb, 1)} MB  ` +
                  `core ${fmt(run.serverCpuShare * 100, 0)}%` +
                  `${run.errors ? `  ERRORS ${run.errors}` : ''}\n`,
              );
            }
          }
        }
      } finally {
        for (const [variant, s] of up) {
          const exit = await s.server.stop().catch(() => null);
          const report = /otel-http-preload (\{.*\})/.exec(s.server.stderr());
          const otel = report ? JSON.parse(report[1]) : undefined;
          servers.push({ handler, variant, served: s.served, exit, ...(otel ? { otel } : {}) });
          if (variant === 'preload' || variant === 'preload-in-thread') preloadServed += s.served;
          if (otel && otel.httpServerDurationCount < s.served) {
            process.stdout.write(`    warning: ${variant} (${handler}): the OpenTelemetry instrumentation recorded ${otel.httpServerDurationCount} requests, fewer than the ${s.served} served\n`);
          }
        }
      }
    }
  }

  let streamEntries;
  let streamRequests;
  if (redis && !redis.error) {
    ({ entries: streamEntries, requests: streamRequests } = await readPreloadStream(redis));
    await redis.del(STREAM_KEY);
    await redis.quit();
  }

  const summary = summarise(runs, opts);
  printSummary(summary, opts);
  if (streamEntries !== undefined) {
    process.stdout.write(
      `The preload wrote ${streamEntries} entries to ${STREAM_KEY} (deleted now), counting ${fmtInt(streamRequests)} requests; ` +
        `the load generator saw ${fmtInt(preloadServed)} completed (warm-up included; requests in flight when a run ends are not counted by it).\n`,
    );
    if (streamEntries === 0 || streamRequests < preloadServed) {
      process.stdout.write('  warning: the preload recorded fewer requests than were served: it may not have been measuring\n');
    }
  }
  const checks = checkTargets(summary, opts);

  const outFile = opts.out ?? path.join(root, 'bench', 'results', `overhead-${startedAt.toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(
    outFile,
    `${JSON.stringify(
      {
        startedAt: startedAt.toISOString(),
        finishedAt: new Date().toISOString(),
        options: { ...opts, out: undefined },
        tool: { name: opts.tool, version: toolVersion(opts.tool) },
        pinning,
        machine: { node: process.version, cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model, loadAvgStart, loadAvgEnd: os.loadavg(), clkTck: CLK_TCK },
        serverEnv: SERVER_ENV,
        preloadStream: { entries: streamEntries, requestsRecorded: streamRequests, requestsCompleted: preloadServed },
        targets: TARGETS,
        checks,
        summary,
        servers,
        runs,
      },
      null,
      2,
    )}\n`,
  );
  process.stdout.write(`\nRaw results: ${path.relative(process.cwd(), outFile)}\n`);
}

main().catch((err) => {
  killAll();
  process.stderr.write(`bench:overhead: ${err.stack ?? err}\n`);
  process.exit(1);
});
