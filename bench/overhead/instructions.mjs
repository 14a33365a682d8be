#!/usr/bin/env node
// Server CPU per request as instructions, counted by valgrind's callgrind: the same server and
// variants as run.mjs, but a figure that does not move with the machine's load. On a shared VM
// the wall-clock runs of run.mjs vary by +-10% between identical runs; an instruction count
// varies by well under 1%, so it can tell a 1% cost from a 3% one.
//
//   node bench/overhead/instructions.mjs [--handlers json,stream] [--variants bare,preload,...]
//                                        [--requests N] [--warmup N] [--connections N] [--jobs N]
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
import { cliOptions } from './cli-options.mjs';
import { HANDLERS, SERVER_ENV, VARIANTS, checkSelection, root, serverScript } from './variants.mjs';

const HELP = `usage: node bench/overhead/instructions.mjs [options]

  --handlers LIST     json,stream (default both)
  --variants LIST     bare,preload,otel-http-metrics,otel-http-tracing (default bare,preload,otel-http-metrics)
  --requests N        measured requests per json run (default 30000; stream runs take a third)
  --warmup N          warm-up requests per json run before counting (default 20000; stream a third)
  --connections N     keep-alive connections (default 8)
  --jobs N            servers measured at once (default: CPUs, at most 2)
  --out FILE          raw results JSON (default bench/results/instructions-<time>.json)

Needs valgrind (apt-get install -y valgrind). Takes 2-3 minutes per run.
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
    out: undefined,
  };
  for (const { arg, flag, value, int } of cliOptions(argv, fail, HELP)) {
    switch (flag) {
      case '--handlers':
        opts.handlers = value().split(',').filter(Boolean);
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
      case '--out':
        opts.out = path.resolve(value());
        break;
      default:
        fail(`unknown option ${arg}\n\n${HELP}`);
    }
  }
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

function sendRequests(port, urlPath, total, connections) {
  const request = Buffer.from(`GET ${urlPath} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
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
        sent++;
        socket.write(request);
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
// one measured server

function callgrindControl(args) {
  const r = spawnSync('callgrind_control', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`callgrind_control ${args.join(' ')} failed: ${r.stderr || r.stdout}`);
}

async function measure(handler, variant, opts, workDir) {
  const scale = handler === 'json' ? 1 : 3;
  const warmup = Math.round(opts.warmup / scale);
  const requests = Math.round(opts.requests / scale);
  const outFile = path.join(workDir, `callgrind.${handler}.${variant}.out`);
  const def = VARIANTS[variant];
  const nodeArgs = [...def.require.flatMap((r) => ['--require', r]), serverScript];
  const child = spawn('valgrind', ['--tool=callgrind', '--cache-sim=no', '--branch-sim=no', `--callgrind-out-file=${outFile}`, process.execPath, ...nodeArgs], {
    cwd: root,
    env: { ...process.env, ...SERVER_ENV, ...(def.env ?? {}), OTEL_METRIC_EXPORT_INTERVAL: '600000', PORT: '0' },
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
    const path_ = HANDLERS[handler].path;
    if (warmup > 0) await sendRequests(port, path_, warmup, opts.connections);
    callgrindControl(['-z', String(child.pid)]);
    const completed = await sendRequests(port, path_, requests, opts.connections);
    callgrindControl(['-d', String(child.pid)]);
    const dump = fs.readdirSync(workDir).find((f) => f.startsWith(`callgrind.${handler}.${variant}.out.`));
    if (!dump) throw new Error(`no callgrind dump for ${handler} ${variant}`);
    const text = fs.readFileSync(path.join(workDir, dump), 'utf8');
    const m = /^(?:summary|totals): (\d+)/m.exec(text);
    if (!m) throw new Error(`no totals in ${dump}`);
    const instructions = Number(m[1]);
    return { handler, variant, warmup, requests: completed, instructions, perRequest: instructions / completed };
  } finally {
    child.kill('SIGKILL');
    await exited;
  }
}

// ---------------------------------------------------------------------------------------------

const fmtInt = (n) => Math.round(n).toLocaleString('en-US');

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (opts.variants.includes('preload') && !fs.existsSync(VARIANTS.preload.require[0])) {
    fail(`${path.relative(root, VARIANTS.preload.require[0])} is missing: build first (pnpm bench:instructions does, or npx tsc -b)`);
  }
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'otel-bandwidth-instructions-'));
  const jobs = opts.handlers.flatMap((h) => opts.variants.map((v) => [h, v]));
  process.stdout.write(
    `otel-bandwidth overhead in instructions (valgrind callgrind)\n` +
      `  ${jobs.length} runs, ${opts.jobs} at a time; json: ${fmtInt(opts.warmup)} warm-up + ${fmtInt(opts.requests)} measured requests, ` +
      `stream a third of that; ${opts.connections} keep-alive connections\n` +
      `  node ${process.version}\n\n`,
  );
  const results = [];
  const queue = [...jobs];
  const worker = async () => {
    for (let job = queue.shift(); job; job = queue.shift()) {
      const [handler, variant] = job;
      const r = await measure(handler, variant, opts, workDir);
      results.push(r);
      process.stdout.write(`  ${handler.padEnd(6)}  ${variant.padEnd(17)}  ${fmtInt(r.perRequest).padStart(9)} instructions/request\n`);
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.jobs }, worker));
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }

  for (const handler of opts.handlers) {
    const bare = results.find((r) => r.handler === handler && r.variant === 'bare');
    process.stdout.write(`\n${HANDLERS[handler].label}\n`);
    const rows = [['variant', 'instructions/request', 'x bare', 'added']];
    for (const variant of opts.variants) {
      const r = results.find((x) => x.handler === handler && x.variant === variant);
      const isBare = variant === 'bare';
      rows.push([
        VARIANTS[variant].label,
        fmtInt(r.perRequest),
        isBare ? '' : `${(r.perRequest / bare.perRequest).toFixed(3)}x`,
        isBare ? '' : `${r.perRequest >= bare.perRequest ? '+' : ''}${fmtInt(r.perRequest - bare.perRequest)}`,
      ]);
    }
    const widths = rows[0].map((_, c) => Math.max(...rows.map((row) => String(row[c]).length)));
    process.stdout.write(`${rows.map((row) => row.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ')).join('\n')}\n`);
  }
  process.stdout.write(
    '\nInstructions are counted, not timed: the same run on the same build repeats to within about 1%\n' +
      'whatever else the machine does. They do not show cache misses or time in the kernel, which the\n' +
      'wall-clock benchmark (pnpm bench:overhead) does, with the machine\'s noise.\n',
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
