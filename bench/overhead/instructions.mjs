#!/usr/bin/env node
// Server CPU per request as instructions, counted by valgrind's callgrind: the same server and
// variants as run.mjs, but a figure that does not move with the machine's load. On a shared VM
// the wall-clock runs of run.mjs vary by +-10% between identical runs. Two things still move an
// instruction count between runs, and both are kept out: V8 sizes its young generation from
// allocation per wall-clock millisecond, which under callgrind's ~50x slowdown looks nearly idle
// (so the semi-space is fixed, --semi-space), and for the same reason its memory reducer starts
// full garbage collections that a loaded server never sees (so it is off); and V8's compilers are still at work in the window,
// by amounts that differ between runs (so their instructions, found by C++ namespace in the dump,
// are reported apart). The runs are repeated and the medians shown.
//
//   node bench/overhead/instructions.mjs [--handlers json,stream,routes] [--variants bare,preload,...]
//                                        [--requests N] [--warmup N] [--connections N] [--jobs N]
//                                        [--repeat N] [--cache-sim]
//
// Per (handler, variant): the server starts under callgrind, gets a warm-up of keep-alive requests
// (so the JIT has compiled the request path), the counters are zeroed (callgrind_control -z), the
// measured requests follow, and the counters are dumped (callgrind_control -d). The figure is the
// dump's total over the measured requests: every instruction the process ran in that window, in
// every thread (JavaScript, V8's compiler and GC, libuv, the kernel interface), not counting time
// spent in the kernel.
//
// What it leaves out, on purpose: the preload's periodic export. Under callgrind the server runs
// some 50x slower, so an export every 5 s of wall time would fall every few hundred requests
// instead of every ~250,000; the servers run with a 10-minute export interval instead. (The export
// itself costs 1-2 ms of CPU per interval with a few series: a CPU profile, see bench/README.md.)
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { nameCode, readPerfMap, selfCosts } from './callgrind-functions.mjs';
import { cliOptions } from './cli-options.mjs';
import { HANDLERS, REDIS_URL, SERVER_ENV, VARIANTS, checkSelection, requestPath, root, serverScript } from './variants.mjs';

const HELP = `usage: node bench/overhead/instructions.mjs [options]

  --handlers LIST     json,stream,routes (default all three)
  --variants LIST     bare,preload,otel-http-metrics,otel-http-tracing (default bare,preload,otel-http-metrics);
                      also the reference points finish-listener, server-channels, call-through-wrappers, detached-buffer,
                      exporter-only, preload-in-thread, bare-control (bare again in a process of its own), and
                      preload-other (BENCH_OTHER_PRELOAD: another build's register.js) (bench/README.md)
  --requests N        measured requests per json run (default 30000; stream runs take a third)
  --warmup N          warm-up requests per json run before counting (default 20000; stream a third)
  --connections N     keep-alive connections (default 8)
  --jobs N            servers measured at once (default: CPUs, at most 2)
  --repeat N          runs per handler and variant; the figures are their medians (default 3)
  --semi-space MB     V8's semi-space size, fixed for every variant (default 16; 0: V8 sizes it)
  --memory-reducer    leave V8's memory reducer on (default off, --no-memory-reducer: under
                      callgrind's slowdown it takes the server for idle and runs full GCs)
  --cache-sim         also simulate the caches and branch predictor (about 2x slower): L1 and
                      last-level misses, mispredicted branches and an estimated cycle count per
                      request (Ir + 10 x L1 misses + 10 x mispredicts + 100 x LL misses)
  --last-level-kb N   with --cache-sim: simulate a last-level cache of N KiB (16-way, 64-byte
                      lines) rather than the host's own (valgrind takes the whole shared L3 of the
                      host, 270 MB here, which a VM among busy neighbours never has to itself);
                      2048, this machine's L2, models a host whose L3 other tenants keep full
  --per-function N    also where the difference from bare lies: each variant's N functions whose
                      own cost (estimated cycles with --cache-sim, else instructions) differs most
                      from bare's, V8's generated code named through --perf-basic-prof (the servers
                      then also run with --no-compact-code-space)
  --after-export S    count a process that has exported, as a service has: every server exports
                      every S seconds (at least 60), the counted window opens once the first export
                      has landed and must close before the second (else the run says so); each
                      server exports to a key prefix of its own. Without it (the default) servers
                      export every 600 s and none exports before or in the window
  --post-export-warmup N
                      with --after-export: requests per json run (stream a third) sent once the
                      first export has landed, before counting (default 0: the window opens right
                      after the export, with whatever V8 recompiles because of it)
  --out FILE          raw results JSON (default bench/results/instructions-<time>.json)

Needs valgrind (apt-get install -y valgrind). Takes about 1 minute per run (2 with --cache-sim).
`;

function fail(message) {
  process.stderr.write(`bench:instructions: ${message}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    handlers: Object.keys(HANDLERS),
    variants: ['bare', 'preload', 'otel-http-metrics'],
    requests: 30000,
    warmup: 20000,
    connections: 8,
    jobs: Math.min(2, os.availableParallelism?.() ?? os.cpus().length),
    cacheSim: false,
    lastLevelKb: 0,
    repeat: 3,
    semiSpaceMb: 16,
    memoryReducer: false,
    perFunction: 0,
    afterExportS: 0,
    postExportWarmup: 0,
    out: undefined,
  };
  for (const { arg, flag, value, int } of cliOptions(argv, fail, HELP)) {
    switch (flag) {
      case '--handlers':
        opts.handlers = value().split(',').filter(Boolean);
        break;
      case '--memory-reducer':
        opts.memoryReducer = true;
        break;
      case '--variants':
        opts.variants = value().split(',').filter(Boolean);
        break;
      case '--requests':
        opts.requests = int(100);
        break;
      case '--warmup':
        opts.warmup = int(0);
        break;
      case '--connections':
        opts.connections = int(1);
        break;
      case '--jobs':
        opts.jobs = int(1);
        break;
      case '--repeat':
        opts.repeat = int(1);
        break;
      case '--semi-space':
        opts.semiSpaceMb = int(0);
        break;
      case '--cache-sim':
        opts.cacheSim = true;
        break;
      case '--last-level-kb':
        opts.lastLevelKb = int(64);
        break;
      case '--per-function':
        opts.perFunction = int(1);
        break;
      case '--after-export':
        opts.afterExportS = int(60);
        break;
      case '--post-export-warmup':
        opts.postExportWarmup = int(0);
        break;
      case '--out':
        opts.out = path.resolve(value());
        break;
      default:
        fail(`unknown option ${arg}\n\n${HELP}`);
    }
  }
  if (opts.postExportWarmup > 0 && opts.afterExportS === 0) fail('--post-export-warmup needs --after-export');
  if (opts.lastLevelKb > 0 && !opts.cacheSim) fail('--last-level-kb needs --cache-sim');
  if (opts.lastLevelKb > 0 && (opts.lastLevelKb & (opts.lastLevelKb - 1)) !== 0) fail('--last-level-kb must be a power of two (valgrind needs a power-of-two number of sets)');
  opts.variants = checkSelection(opts.handlers, opts.variants, fail);
  for (const tool of ['valgrind', 'callgrind_control']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status !== 0) fail(`${tool} is not on PATH (apt-get install -y valgrind)`);
  }
  return opts;
}

// ---------------------------------------------------------------------------------------------
// load: exactly `total` GET requests over keep-alive connections, each sent when the previous
// response on its connection has arrived whole (Content-Length or chunked)

function responseEnd(buf) {
  const head = buf.indexOf('\r\n\r\n');
  if (head === -1) return -1;
  const m = /\r\ncontent-length: *(\d+)/i.exec(buf.slice(0, head + 2));
  if (m) {
    const end = head + 4 + Number(m[1]);
    return buf.length >= end ? end : -1;
  }
  const last = buf.indexOf('\r\n0\r\n\r\n', head);
  return last === -1 ? -1 : last + 7;
}

function sendRequests(port, handler, total, connections) {
  // a handler's one request, or for one with many paths each of its requests in turn
  const single = HANDLERS[handler].paths === undefined ? Buffer.from(`GET ${requestPath(handler, 0)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`) : undefined;
  let sent = 0;
  let done = 0;
  const one = () =>
    new Promise((resolve, reject) => {
      const socket = net.connect(port, '127.0.0.1');
      let buf = '';
      const next = () => {
        if (sent >= total) {
          socket.end();
          resolve();
          return;
        }
        socket.write(single ?? Buffer.from(`GET ${requestPath(handler, sent)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`));
        sent++;
      };
      socket.setEncoding('latin1');
      socket.on('connect', next);
      socket.on('error', reject);
      socket.on('data', (chunk) => {
        buf += chunk;
        for (let end = responseEnd(buf); end !== -1; end = responseEnd(buf)) {
          if (!buf.startsWith('HTTP/1.1 200')) {
            reject(new Error(`unexpected response: ${buf.slice(0, 40)}`));
            return;
          }
          buf = buf.slice(end);
          done++;
          next();
        }
      });
    });
  return Promise.all(Array.from({ length: Math.min(connections, total) }, one)).then(() => done);
}

// ---------------------------------------------------------------------------------------------
// callgrind's event counts

/**
 * V8's optimizing compilers (TurboFan, Maglev) and its baseline compiler: functions of their C++
 * namespaces, and template instances over their types (`std::_Rb_tree<v8::internal::compiler::...>`).
 */
const JIT_COMPILER = /v8::internal::(compiler|maglev|baseline)::|v8::internal::(OptimizingCompileDispatcher|TurbofanCompilationJob)\b/;

/**
 * Instructions the process spent in V8's compilers during the window, from the dump's per-function
 * self costs: the part of the count that is the JIT still compiling rather than requests being
 * served.
 */
function compilerInstructions(costs) {
  let total = 0;
  for (const [name, c] of costs) if (JIT_COMPILER.test(name)) total += c.Ir ?? 0;
  return total;
}

/** The dump's totals by event name (Ir, and with the cache simulation I1mr, D1mr, DLmr, Bcm, ...). */
function eventCounts(names, values) {
  const v = values.trim().split(/\s+/).map(Number);
  return Object.fromEntries(names.trim().split(/\s+/).map((name, i) => [name, v[i] ?? 0]));
}

/**
 * Per request, from the cache and branch simulation: misses in the first-level caches
 * (instruction and data), in the last-level cache, and mispredicted branches, and the estimate of
 * cycles KCachegrind uses: Ir + 10 x (L1 misses + mispredicts) + 100 x LL misses.
 */
function simulatedPerRequest(c, requests) {
  const l1 = (c.I1mr ?? 0) + (c.D1mr ?? 0) + (c.D1mw ?? 0);
  const ll = (c.ILmr ?? 0) + (c.DLmr ?? 0) + (c.DLmw ?? 0);
  const mispredicts = (c.Bcm ?? 0) + (c.Bim ?? 0);
  return {
    instructionL1Misses: (c.I1mr ?? 0) / requests,
    dataL1Misses: ((c.D1mr ?? 0) + (c.D1mw ?? 0)) / requests,
    lastLevelMisses: ll / requests,
    mispredicts: mispredicts / requests,
    estimatedCycles: (c.Ir + 10 * (l1 + mispredicts) + 100 * ll) / requests,
  };
}

/** Where V8 writes a process's perf map: /tmp, whatever TMPDIR says. */
const perfMapFile = (pid) => `/tmp/perf-${pid}.map`;

/**
 * Per request, each function's own cost: instructions, and with the simulation its L1 misses
 * and estimated cycles. Generated code is named from the server's perf map, and pieces of code
 * that come to the same name (one function compiled more than once) are added up. V8's compilers
 * are left out, as from the totals.
 */
function functionCosts(costs, mapFile, requests, simulated) {
  const perfMap = readPerfMap(fs.readFileSync(mapFile, 'utf8'));
  const out = {};
  for (const [rawName, c] of costs) {
    if (JIT_COMPILER.test(rawName)) continue;
    const name = nameCode(rawName, perfMap);
    const s = simulated ? simulatedPerRequest(c, requests) : undefined;
    const row = (out[name] ??= { instructions: 0, ...(s ? { instructionL1Misses: 0, dataL1Misses: 0, estimatedCycles: 0 } : {}) });
    row.instructions += (c.Ir ?? 0) / requests;
    if (s) {
      row.instructionL1Misses += s.instructionL1Misses;
      row.dataL1Misses += s.dataL1Misses;
      row.estimatedCycles += s.estimatedCycles;
    }
  }
  // functions of next to no cost in this run are left out of the raw results
  for (const [name, row] of Object.entries(out)) if (Math.abs(row.instructions) < 0.05 && !(row.estimatedCycles >= 0.5)) delete out[name];
  return out;
}

// ---------------------------------------------------------------------------------------------
// one measured server

function callgrindControl(args) {
  const r = spawnSync('callgrind_control', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

let runCounter = 0;

async function measure(handler, variant, opts, workDir) {
  const scale = handler === 'stream' ? 3 : 1;
  const warmup = Math.round(opts.warmup / scale);
  const postExportWarmup = Math.round(opts.postExportWarmup / scale);
  const requests = Math.round(opts.requests / scale);
  const name = `callgrind.${handler}.${variant}.${++runCounter}.out`;
  const outFile = path.join(workDir, name);
  const def = VARIANTS[variant];
  // the young generation at one fixed size: V8 resizes it from allocation throughput per wall-clock
  // millisecond, which under callgrind's slowdown looks nearly idle, so unpinned it shrinks or not
  // at random and the scavenges in the window (and the count) jump between runs
  const youngGeneration = opts.semiSpaceMb > 0 ? [`--min-semi-space-size=${opts.semiSpaceMb}`, `--max-semi-space-size=${opts.semiSpaceMb}`] : [];
  // generated code named in /tmp/perf-<pid>.map, and kept where the map says it is; the V8 log
  // that --perf-basic-prof also turns on (isolate-*-v8.log in the working directory) discarded
  const codeMap = opts.perFunction > 0 ? ['--perf-basic-prof', '--no-compact-code-space', '--no-logfile-per-isolate', '--logfile=/dev/null'] : [];
  const nodeArgs = [...youngGeneration, ...(opts.memoryReducer ? [] : ['--no-memory-reducer']), ...codeMap, ...def.require.flatMap((r) => ['--require', r]), serverScript];
  const sim = opts.cacheSim ? 'yes' : 'no';
  // --after-export: a key prefix of this run's own, so that its exports can be told from the
  // other servers' measured at the same time
  const keyPrefix = `bench-instructions-${process.pid}-${runCounter}`;
  const stream = `{${keyPrefix}}:metrics`;
  const exportEnv = opts.afterExportS > 0 ? { OTEL_METRIC_EXPORT_INTERVAL: String(opts.afterExportS * 1000), OTEL_BANDWIDTH_KEY_PREFIX: keyPrefix } : { OTEL_METRIC_EXPORT_INTERVAL: '600000' };
  const startedAt = Date.now();
  const lastLevel = opts.cacheSim && opts.lastLevelKb > 0 ? [`--LL=${opts.lastLevelKb * 1024},16,64`] : [];
  const child = spawn('valgrind', ['--tool=callgrind', `--cache-sim=${sim}`, `--branch-sim=${sim}`, ...lastLevel, `--callgrind-out-file=${outFile}`, process.execPath, ...nodeArgs], {
    cwd: root,
    env: { ...process.env, ...SERVER_ENV, ...(def.env ?? {}), ...exportEnv, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const port = await new Promise((resolve, reject) => {
      let stdout = '';
      const timer = setTimeout(() => reject(new Error(`${variant} did not start under valgrind within 120 s\n${stderr}`)), 120_000);
      child.stdout.setEncoding('utf8');
      child.stdout.on('data', (d) => {
        stdout += d;
        const m = /listening (\d+)/.exec(stdout);
        if (m) {
          clearTimeout(timer);
          resolve(Number(m[1]));
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${variant} exited (${code}) under valgrind\n${stderr}`));
      });
    });
    if (warmup > 0) await sendRequests(port, handler, warmup, opts.connections);
    let exports;
    if (opts.afterExportS > 0) {
      // every variant idles until the first export's time; one that exports to Redis then until
      // that export (the warm-up's requests) has landed, which under callgrind comes later than
      // the interval says (the export worker starts, and connects, tens of times slower)
      const firstExport = startedAt + opts.afterExportS * 1000;
      if (Date.now() > firstExport) process.stdout.write(`  warning: ${handler} ${variant}: the warm-up outlasted the first export; a longer --after-export keeps exports out of the window\n`);
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, firstExport - Date.now())));
      const giveUp = Date.now() + 120_000;
      while (def.exportsToRedis && streamLength(stream) < 1 && Date.now() < giveUp) await new Promise((resolve) => setTimeout(resolve, 1000));
      exports = { before: streamLength(stream) };
      if (def.exportsToRedis && exports.before < 1) process.stdout.write(`  warning: ${handler} ${variant}: no export landed within 120 s of the first export's time\n`);
      if (postExportWarmup > 0) await sendRequests(port, handler, postExportWarmup, opts.connections);
    }
    callgrindControl(['-z', String(child.pid)]);
    const completed = await sendRequests(port, handler, requests, opts.connections);
    callgrindControl(['-d', String(child.pid)]);
    if (exports) {
      exports.after = streamLength(stream);
      deleteKey(stream);
      if (exports.after !== exports.before) {
        process.stdout.write(`  warning: ${handler} ${variant}: an export landed in the counted window (${exports.before} entries before, ${exports.after} after): a longer --after-export keeps it out\n`);
      }
    }
    const dump = fs.readdirSync(workDir).find((f) => f.startsWith(`${name}.`));
    if (!dump) throw new Error(`no callgrind dump for ${handler} ${variant}`);
    const text = fs.readFileSync(path.join(workDir, dump), 'utf8');
    const events = /^events: (.+)$/m.exec(text);
    const totals = /^(?:summary|totals): ([\d ]+)$/m.exec(text);
    if (!events || !totals) throw new Error(`no events or totals in ${dump}`);
    const counts = eventCounts(events[1], totals[1]);
    const instructions = counts.Ir;
    const costs = selfCosts(text);
    const compiling = compilerInstructions(costs);
    const perRequest = (instructions - compiling) / completed;
    return {
      handler,
      variant,
      warmup,
      postExportWarmup,
      requests: completed,
      instructions,
      compiling,
      perRequest,
      compilingPerRequest: compiling / completed,
      ...(exports ? { streamEntries: exports } : {}),
      ...(opts.cacheSim ? { simulated: simulatedPerRequest(counts, completed) } : {}),
      ...(opts.perFunction > 0 ? { functions: functionCosts(costs, perfMapFile(child.pid), completed, opts.cacheSim) } : {}),
    };
  } finally {
    child.kill('SIGKILL');
    await exited;
    if (opts.perFunction > 0) fs.rmSync(perfMapFile(child.pid), { force: true });
  }
}

// ---------------------------------------------------------------------------------------------

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');

function median(values) {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** The repeated runs of one handler and variant as one: medians of each figure, and the range. */
function medianResult(runs) {
  const per = runs.map((r) => r.perRequest);
  const sim = runs[0].simulated
    ? Object.fromEntries(Object.keys(runs[0].simulated).map((k) => [k, median(runs.map((r) => r.simulated[k]))]))
    : undefined;
  return {
    runs: runs.length,
    perRequest: median(per),
    range: [Math.min(...per), Math.max(...per)],
    compilingPerRequest: median(runs.map((r) => r.compilingPerRequest)),
    ...(sim ? { simulated: sim } : {}),
  };
}

function printTable(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => String(row[c]).length)));
  process.stdout.write(`${rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n')}\n`);
}

/** Files a variant brings: under the repository (its node_modules included), but not the server. */
const variantCode = (name) => name.includes(root) && !name.includes(serverScript);

/**
 * The functions whose own cost differs most between a variant and bare (medians over the runs of
 * each, a function absent from a run counting 0), and what the variant's own files add in all.
 * What is left over is Node's and V8's code, whose cost moves with how the JIT inlined it around
 * the variant's hooks.
 */
function printFunctionDifferences(results, handler, variant, opts) {
  const runsOf = (v) => results.filter((r) => r.handler === handler && r.variant === v && r.functions);
  const bareRuns = runsOf('bare');
  const runs = runsOf(variant);
  if (bareRuns.length === 0 || runs.length === 0) return;
  const metric = opts.cacheSim ? 'estimatedCycles' : 'instructions';
  const names = new Set([...bareRuns, ...runs].flatMap((r) => Object.keys(r.functions)));
  const med = (rs, name, key) => median(rs.map((r) => r.functions[name]?.[key] ?? 0));
  const diffs = [...names].map((name) => {
    const d = (key) => med(runs, name, key) - med(bareRuns, name, key);
    return { name, instructions: d('instructions'), ...(opts.cacheSim ? { i1: d('instructionL1Misses'), d1: d('dataL1Misses'), est: d('estimatedCycles') } : {}) };
  });
  const key = opts.cacheSim ? 'est' : 'instructions';
  const own = diffs.filter((d) => variantCode(d.name));
  const sum = (ds, k) => ds.reduce((t, d) => t + d[k], 0);
  const signed = (n, digits = 0) => `${n >= 0 ? '+' : ''}${digits ? n.toFixed(digits) : fmtInt(n)}`;
  const cells = (d) => [signed(d.instructions), ...(opts.cacheSim ? [signed(d.i1, 1), signed(d.d1, 1), signed(d.est)] : [])];
  process.stdout.write(`\n  ${VARIANTS[variant].label} against bare, per request, by function (own cost; ${metric}, the ${opts.perFunction} largest differences):\n`);
  const rows = [['  function', 'instructions', ...(opts.cacheSim ? ['I1 misses', 'D1 misses', 'est. cycles'] : [])]];
  for (const d of diffs.sort((a, b) => Math.abs(b[key]) - Math.abs(a[key])).slice(0, opts.perFunction)) {
    rows.push([`  ${variantCode(d.name) ? '* ' : '  '}${d.name.replaceAll(`${root}/`, '').slice(0, 90)}`, ...cells(d)]);
  }
  const total = { instructions: sum(diffs, 'instructions'), ...(opts.cacheSim ? { i1: sum(diffs, 'i1'), d1: sum(diffs, 'd1'), est: sum(diffs, 'est') } : {}) };
  const ownTotal = { instructions: sum(own, 'instructions'), ...(opts.cacheSim ? { i1: sum(own, 'i1'), d1: sum(own, 'd1'), est: sum(own, 'est') } : {}) };
  rows.push([`  * the variant's own code (${own.length} functions)`, ...cells(ownTotal)]);
  rows.push(['    every function', ...cells(total)]);
  printTable(rows);
}

// --after-export: the stream entries a server has written, through redis-cli (no client held open
// across the run); -1 where Redis does not answer
function streamLength(key) {
  const r = spawnSync('redis-cli', ['-u', REDIS_URL, 'XLEN', key], { encoding: 'utf8' });
  return r.status === 0 ? Number(r.stdout.trim()) : -1;
}

function deleteKey(key) {
  spawnSync('redis-cli', ['-u', REDIS_URL, 'DEL', key], { stdio: 'ignore' });
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.variants.includes('preload') && !fs.existsSync(VARIANTS.preload.require[0])) {
    fail(`${path.relative(root, VARIANTS.preload.require[0])} is missing: build first (pnpm bench:instructions does, or npx tsc -b)`);
  }
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'otel-bandwidth-instructions-'));
  const jobs = [];
  for (let i = 0; i < opts.repeat; i++) for (const h of opts.handlers) for (const v of opts.variants) jobs.push([h, v]);
  process.stdout.write(
    `otel-bandwidth overhead in instructions (valgrind callgrind)\n` +
      `  ${jobs.length} runs, ${opts.jobs} at a time; json: ${fmtInt(opts.warmup)} warm-up + ${fmtInt(opts.requests)} measured requests, ` +
      `stream a third of that; ${opts.connections} keep-alive connections\n` +
      (opts.afterExportS > 0
        ? `  exporting every ${opts.afterExportS} s; counted after the first export${opts.postExportWarmup > 0 ? ` and ${fmtInt(opts.postExportWarmup)} requests more` : ''}\n`
        : '') +
      `  node ${process.version}\n\n`,
  );
  const results = [];
  const queue = [...jobs];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const [handler, variant] = job;
      const r = await measure(handler, variant, opts, workDir);
      results.push(r);
      process.stdout.write(`  ${handler.padEnd(6)}  ${variant.padEnd(17)}  ${fmtInt(r.perRequest).padStart(9)} instructions/request (+${fmtInt(r.compilingPerRequest)} compiling)\n`);
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.jobs }, worker));
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }

  for (const handler of opts.handlers) {
    const bare = medianResult(results.filter((r) => r.handler === handler && r.variant === 'bare'));
    process.stdout.write(`\n${HANDLERS[handler].label}\n`);
    const ratio = (x, base) => `${(x / base).toFixed(3)}x`;
    const rows = [['variant', 'instructions/request', '(range)', 'x bare', 'added', 'JIT compiling', ...(opts.cacheSim ? ['I1 misses', 'D1 misses', 'LL misses', 'mispredicts', 'est. cycles', 'x bare'] : [])]];
    for (const variant of opts.variants) {
      const r = medianResult(results.filter((x) => x.handler === handler && x.variant === variant));
      const isBare = variant === 'bare';
      const s = r.simulated;
      rows.push([
        VARIANTS[variant].label,
        fmtInt(r.perRequest),
        r.runs > 1 ? `${fmtInt(r.range[0])}-${fmtInt(r.range[1])}` : '',
        isBare ? '' : ratio(r.perRequest, bare.perRequest),
        isBare ? '' : `${r.perRequest >= bare.perRequest ? '+' : ''}${fmtInt(r.perRequest - bare.perRequest)}`,
        fmtInt(r.compilingPerRequest),
        ...(s
          ? [
              s.instructionL1Misses.toFixed(0),
              s.dataL1Misses.toFixed(0),
              s.lastLevelMisses.toFixed(1),
              s.mispredicts.toFixed(0),
              fmtInt(s.estimatedCycles),
              isBare ? '' : ratio(s.estimatedCycles, bare.simulated.estimatedCycles),
            ]
          : []),
      ]);
    }
    printTable(rows);
    if (opts.perFunction > 0) {
      for (const variant of opts.variants) if (variant !== 'bare') printFunctionDifferences(results, handler, variant, opts);
    }
  }
  process.stdout.write(
    `\nMedians of ${opts.repeat} run(s) each, "(range)" the lowest and highest. "instructions/request" leaves\n` +
      'out V8\'s compilers, still at work in the window under callgrind\'s slowdown and by amounts that\n' +
      'differ from run to run; "JIT compiling" is that part, per request. Instructions are counted, not\n' +
      'timed: what else the machine does does not move them. They do not show cache misses\n' +
      '(--cache-sim estimates them) or time in the kernel, which the wall-clock benchmark\n' +
      "(pnpm bench:overhead) does, with the machine's noise.\n",
  );
  const outFile = opts.out ?? path.join(root, 'bench', 'results', `instructions-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.mkdirSync(path.dirname(outFile), { recursive: true });
  fs.writeFileSync(outFile, `${JSON.stringify({ node: process.version, options: opts, results }, null, 2)}\n`);
  process.stdout.write(`\nRaw results: ${path.relative(root, outFile)}\n`);
}

main().catch((err) => {
  process.stderr.write(`bench:instructions: ${err.stack ?? err}\n`);
  process.exit(1);
});
