/**
 * Shutdown under the preload, with real processes: SIGINT exports the last interval and the
 * process ends of the signal; an app that handles SIGTERM itself (server.close(), then ends on
 * its own) has even the request still in flight at the signal exported; and with Redis stopped
 * or gone, the process still ends: at OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT after a signal, and on its
 * own when idle (nothing of the preload holds it open). And startBandwidthMonitoring's
 * `await shutdown()` at a script's end: the process waits for it, and the last interval goes out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { decodeBatch, fieldsFromArray } from '@otel-bandwidth/core';
import {
  REDIS_URL,
  REGISTER,
  REPO_ROOT,
  createTestRedis,
  request,
  startInstrumented,
  stopAllInstrumented,
  clientTotals,
  type ClientResult,
  type ClientTotals,
  type InstrumentedProcess,
  type TestRedis,
  preloadStatsOf,
} from 'test-support';
import { startPrivateRedis, type PrivateRedis } from '../support/redis-servers';

// A node:http app: answers with what it read, after ?delay= ms; tells the test (IPC) when a
// request arrives and, asked "stats", the preload's counters. With APP_SIGTERM=close it handles
// SIGTERM itself: closes its server and lets the process end; with APP_SIGTERM=exit, its handler
// calls process.exit(0); with APP_BEFORE_EXIT=exit, it calls process.exit(0) at beforeExit. Once it
// has answered /exit it calls process.exit(3), /crash it throws. Once it has answered /break-worker,
// it breaks the export worker: the next collection it hands over is one the worker throws on, and
// this thread stays busy for a second (the worker ends meanwhile, or while the exit waits), then
// calls process.exit(3), its event loop never having run to tell it the worker is gone.
const APP = `'use strict';
const http = require('node:http');
const { Worker } = require('node:worker_threads');
const preload = require(process.env.OBW_REGISTER);
let breakWorker = false;
const post = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (message, transfer) {
  if (!breakWorker || message === null || typeof message !== 'object' || message.type !== 'collected') return post.call(this, message, transfer);
  post.call(this, { ...message, snapshot: null }, transfer);
  const until = Date.now() + 1000;
  while (Date.now() < until);
  process.exit(3);
};
const server = http.createServer((req, res) => {
  if (process.connected) process.send({ arrived: req.url });
  let received = 0;
  req.on('data', (c) => { received += c.length; });
  req.on('end', () => {
    const delay = Number(new URL(req.url, 'http://app').searchParams.get('delay') || 0);
    setTimeout(() => {
      const body = JSON.stringify({ url: req.url, received });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body, () => {
        // ends the process once the answer is out: /exit with process.exit(3), /crash by throwing
        if (req.url.startsWith('/exit')) setTimeout(() => process.exit(3), 20);
        if (req.url.startsWith('/crash')) setTimeout(() => { throw new Error('crash on purpose'); }, 20);
        if (req.url.startsWith('/break-worker')) breakWorker = true;
      });
    }, delay);
  });
});
process.on('message', (m) => {
  if (m === 'stats') process.send({ stats: preload.stats() });
});
if (process.env.APP_SIGTERM === 'close') {
  process.on('SIGTERM', () => {
    server.close();
    process.disconnect();
  });
}
if (process.env.APP_SIGTERM === 'exit') process.on('SIGTERM', () => process.exit(0));
if (process.env.APP_BEFORE_EXIT === 'exit') process.on('beforeExit', () => process.exit(0));
server.listen(0, '127.0.0.1', () => process.send({ listening: server.address().port }));
`;

// An app that serves itself a request every 100 ms for a second, closes its server and ends on
// its own, printing what it served.
const IDLE_APP = `'use strict';
const http = require('node:http');
const server = http.createServer((req, res) => res.end('hello ' + req.url));
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  for (let i = 0; i < 10; i++) {
    await new Promise((resolve, reject) =>
      http.get({ host: '127.0.0.1', port, path: '/items/' + i, agent: false }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject));
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  server.close();
  process.stdout.write('served 10\\n');
});
`;

// A script using the programmatic API: serves itself 3 requests, closes its server and awaits
// shutdown(), then prints the exporter's counters. Nothing else keeps the process alive.
const PROGRAMMATIC_APP = `'use strict';
const http = require('node:http');
const { startBandwidthMonitoring } = require(process.env.OBW_INSTRUMENTATION);
const monitoring = startBandwidthMonitoring({
  serviceName: 'programmatic-app',
  exportIntervalMillis: 3600000,
  exporter: { url: process.env.REDIS_URL, keyPrefix: process.env.PREFIX, shutdownTimeoutMillis: 1000 },
});
const server = http.createServer((req, res) => res.end('hello ' + req.url));
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve, reject) =>
      http.get({ host: '127.0.0.1', port, path: '/items/' + i, agent: false }, (res) => { res.resume(); res.on('end', resolve); }).on('error', reject));
  }
  server.close();
  await monitoring.shutdown();
  const s = monitoring.exporter.stats();
  process.stdout.write('done ' + JSON.stringify({ batchesExported: s.batchesExported, pointsExported: s.pointsExported, pointsDropped: s.pointsDropped }) + '\\n');
});
`;

let r: TestRedis;
let stopped: PrivateRedis;
let dir: string;
let appPath: string;
let idleAppPath: string;
let programmaticAppPath: string;
beforeAll(async () => {
  r = await createTestRedis('exporter_shutdown');
  stopped = await startPrivateRedis();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'obw-shutdown-'));
  appPath = path.join(dir, 'app.js');
  idleAppPath = path.join(dir, 'idle-app.js');
  programmaticAppPath = path.join(dir, 'programmatic-app.js');
  fs.writeFileSync(programmaticAppPath, PROGRAMMATIC_APP);
  fs.writeFileSync(appPath, APP);
  fs.writeFileSync(idleAppPath, IDLE_APP);
});
afterAll(async () => {
  await stopAllInstrumented();
  await stopped.close();
  await r.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});


/** What the stream holds for a service, from the entries themselves. */
async function streamTotals(prefix: string, service: string): Promise<ClientTotals & { entries: number }> {
  const t = { requests: 0, inbound: 0, outbound: 0, entries: 0 };
  for (const [, f] of await r.redis.xrange(`{${prefix}}:metrics`, '-', '+')) {
    const batch = decodeBatch(fieldsFromArray(f));
    if (batch.resource['service.name'] !== service) continue;
    t.entries++;
    for (const m of batch.metrics) {
      if (m.type !== 'histogram') continue;
      for (const p of m.points) {
        if (m.name === 'http.server.request.duration') t.requests += p.count;
        if (m.name === 'http.server.request.body.size') t.inbound += p.sum;
        if (m.name === 'http.server.response.body.size') t.outbound += p.sum;
      }
    }
  }
  return t;
}

function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve({ code: child.exitCode, signal: child.signalCode });
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}

function nextMessage<T>(app: InstrumentedProcess, pick: (m: unknown) => T | undefined): Promise<T> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      const v = pick(m);
      if (v === undefined) return;
      app.child.off('message', on);
      resolve(v);
    };
    app.child.on('message', on);
  });
}

/**
 * The app under the preload as service `service`, exporting only when it stops (an interval of an
 * hour) unless `env` says otherwise.
 */
function startApp(service: string, env: Record<string, string> = {}): Promise<InstrumentedProcess> {
  return startInstrumented(appPath, {
    OBW_REGISTER: REGISTER,
    OTEL_SERVICE_NAME: service,
    OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
    OTEL_METRIC_EXPORT_INTERVAL: '3600000',
    ...env,
  });
}

async function someTraffic(port: number): Promise<ClientResult[]> {
  return [
    ...(await Promise.all([1, 2, 3].map((i) => request(port, 'GET', `/items/${i}`)))),
    await request(port, 'POST', '/upload', 'x'.repeat(1234)),
    await request(port, 'POST', '/upload', Buffer.alloc(77, 1)),
  ];
}

describe('shutdown under the preload', () => {
  it('SIGINT: the last interval is exported, then the process ends of SIGINT', async () => {
    const app = await startApp('sigint-app');
    const sent = clientTotals(await someTraffic(app.port));
    expect(sent).toEqual({ requests: 5, inbound: 1311, outbound: expect.any(Number) });
    app.child.kill('SIGINT');
    expect(await exitOf(app.child)).toEqual({ code: null, signal: 'SIGINT' });
    expect(app.stderr()).toBe('');
    expect(await streamTotals(r.prefix, 'sigint-app')).toEqual({ ...sent, entries: 1 });
  });

  it.each([
    ['ends on its own', {}],
    // the preload's final export has begun at beforeExit when the app's listener exits
    ['calls process.exit(0) at beforeExit', { APP_BEFORE_EXIT: 'exit' }],
  ])('an app that handles SIGTERM itself (server.close()) and %s: the request in flight at the signal is exported', async (_how, env) => {
    const service = `own-sigterm-app-${Object.keys(env).length}`;
    const app = await startApp(service, { APP_SIGTERM: 'close', ...env });
    const before = await someTraffic(app.port);
    const arrived = nextMessage(app, (m) => ((m as { arrived?: string }).arrived?.startsWith('/slow/') ? (m as { arrived: string }).arrived : undefined));
    // (connection: close, so that no idle keep-alive connection outlives the response)
    const slow = request(app.port, 'POST', '/slow/7?delay=400', 'y'.repeat(500), { connection: 'close' });
    expect(await arrived).toBe('/slow/7?delay=400');
    app.child.kill('SIGTERM'); // while /slow/7 is being served
    const last = await slow;
    expect(last.status).toBe(200);
    // the app's own handler ran and the process ended by itself, not of the signal
    expect(await exitOf(app.child)).toEqual({ code: 0, signal: null });
    expect(app.stderr()).toBe('');
    const sent = clientTotals([...before, last]);
    expect(sent).toMatchObject({ requests: 6, inbound: 1811 });
    // what was recorded by the signal went out at once, the rest as the process ended
    expect(await streamTotals(r.prefix, service)).toEqual({ ...sent, entries: 2 });
  });

  it.each([
    ['process.exit(3) after a request', '/exit', { code: 3, signal: null }, ''],
    ['an uncaught exception after a request', '/crash', { code: 1, signal: null }, 'Error: crash on purpose'],
  ] as const)('%s: the process ends as it would have, and the last interval was exported first', async (_what, path, ending, stderr) => {
    const service = `exit-app${path.replace('/', '-')}`;
    const app = await startApp(service);
    const before = await someTraffic(app.port);
    const last = await request(app.port, 'POST', `${path}/1`, 'z'.repeat(300), { connection: 'close' });
    expect(last.status).toBe(200);
    expect(await exitOf(app.child)).toEqual(ending);
    if (stderr === '') expect(app.stderr()).toBe('');
    else expect(app.stderr()).toContain(stderr);
    const sent = clientTotals([...before, last]);
    expect(sent).toMatchObject({ requests: 6, inbound: 1611 });
    expect(await streamTotals(r.prefix, service)).toEqual({ ...sent, entries: 1 });
  });

  it("process.exit() after the export worker ended unseen: the exit does not wait out its deadline (ten minutes here) for a worker that cannot answer", async () => {
    const app = await startApp('exit-after-worker-died', { OTEL_METRIC_EXPORT_INTERVAL: '200', OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT: '600000' });
    await someTraffic(app.port);
    const last = await request(app.port, 'GET', '/break-worker/1', undefined, { connection: 'close' });
    expect(last.status).toBe(200);
    expect(await exitOf(app.child)).toEqual({ code: 3, signal: null });
    expect(app.stderr()).not.toMatch(/Unhandled|\bat /);
  });

  it('an app whose SIGTERM handler calls process.exit(0): everything it served is exported before it ends', async () => {
    const app = await startApp('exit-on-sigterm-app', { APP_SIGTERM: 'exit' });
    const sent = clientTotals(await someTraffic(app.port));
    app.child.kill('SIGTERM');
    expect(await exitOf(app.child)).toEqual({ code: 0, signal: null });
    expect(app.stderr()).toBe('');
    expect(await streamTotals(r.prefix, 'exit-on-sigterm-app')).toEqual({ ...sent, entries: 1 });
  });

  it.each(['gone (connections refused)', 'stopped (SIGSTOP: connections hang)'])(
    'process.exit() with Redis %s: the process still ends, at OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT, saying what it could not deliver',
    async (state) => {
      if (state.startsWith('stopped')) {
        if (!stopped.answering) await stopped.start();
        stopped.pause();
      } else {
        await stopped.kill();
      }
      // an interval of an hour: an attempt's own timeout (up to an interval) would outlast the
      // deadline, unless the shutdown bounds it
      try {
        const app = await startApp(`exit-unreachable-app-${state.split(' ')[0]}`, { REDIS_URL: stopped.url, OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT: '1500' });
        await someTraffic(app.port);
        await request(app.port, 'GET', '/exit/1', undefined, { connection: 'close' });
        expect(await exitOf(app.child)).toEqual({ code: 3, signal: null });
        expect(app.stderr()).not.toMatch(/Unhandled|Error:|\bat /);
        // 3 series (/items/:id, /upload, /exit/:id) of 5 histograms
        expect(app.stderr()).toMatch(/otel-bandwidth exporter: shutting down with 15 data points not delivered/);
      } finally {
        if (state.startsWith('stopped')) stopped.resume();
        else await stopped.start();
      }
    },
  );

  it.each([
    ['SIGTERM', 'stopped (SIGSTOP: connections hang)'],
    ['SIGINT', 'gone (connections refused)'],
  ] as const)('%s with Redis %s: the process still ends, at OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT', async (signal, state) => {
    if (state.startsWith('stopped')) {
      if (!stopped.answering) await stopped.start();
      stopped.pause();
    } else {
      await stopped.kill();
    }
    const app = await startApp('unreachable-app', { REDIS_URL: stopped.url, OTEL_METRIC_EXPORT_INTERVAL: '200', OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT: '1500' });
    await someTraffic(app.port);
    // exports have been tried and are held (the counters, through the preload)
    let s = await preloadStatsOf(app);
    while (s.exporter.retries === 0 || s.exporter.pointsPending === 0) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      s = await preloadStatsOf(app);
    }
    expect(s.exporter).toMatchObject({ batchesExported: 0, pointsDropped: 0 });
    expect(s.instrumentation.requests).toBe(5);
    app.child.kill(signal);
    expect(await exitOf(app.child)).toEqual({ code: null, signal });
    expect(app.stderr()).not.toMatch(/Unhandled|Error:|\bat /);
    // the exporter gave up before the process stopped waiting for it, and said what it left
    expect(app.stderr()).toMatch(/otel-bandwidth exporter: shutting down with \d+ data points not delivered/);
    if (state.startsWith('stopped')) stopped.resume();
    else await stopped.start();
  });

  it.each(['stopped', 'gone'] as const)('an app that ends on its own ends with Redis %s: no socket or timer of the preload holds it', async (state) => {
    if (state === 'stopped') {
      if (!stopped.answering) await stopped.start();
      stopped.pause();
    } else {
      await stopped.kill();
    }
    const child = spawn(process.execPath, ['--unhandled-rejections=strict', '--require', REGISTER, idleAppPath], {
      env: { ...process.env, REDIS_URL: stopped.url, OTEL_METRIC_EXPORT_INTERVAL: '100', OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT: '1000', OTEL_LOG_LEVEL: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    // if anything held the process open, this would never resolve and the test would time out
    expect(await exitOf(child)).toEqual({ code: 0, signal: null });
    expect(stdout).toBe('served 10\n');
    expect(stderr).not.toMatch(/Unhandled|Error:|\bat /);
    if (state === 'stopped') stopped.resume();
    else await stopped.start();
  });
});

describe('shutdown of startBandwidthMonitoring', () => {
  function runScript(redisUrl: string, prefix: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const child = spawn(process.execPath, ['--unhandled-rejections=strict', programmaticAppPath], {
      env: { ...process.env, OBW_INSTRUMENTATION: path.join(REPO_ROOT, 'packages', 'instrumentation', 'dist', 'index.js'), REDIS_URL: redisUrl, PREFIX: prefix },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    return exitOf(child).then(({ code }) => ({ code, stdout, stderr }));
  }

  it('await shutdown() at the end of a script: the process waits for it and the last interval reaches the stream', async () => {
    const prefix = `${r.prefix}-programmatic`;
    const run = await runScript(REDIS_URL, prefix);
    expect(run).toEqual({ code: 0, stdout: 'done {"batchesExported":1,"pointsExported":10,"pointsDropped":0}\n', stderr: '' });
    // the 3 requests served, and the 3 calls the script made to itself (outbound, 5 histograms each)
    expect(await streamTotals(prefix, 'programmatic-app')).toEqual({ requests: 3, inbound: 0, outbound: 3 * 'hello /items/0'.length, entries: 1 });
    await r.redis.del(`{${prefix}}:metrics`);
  });

  it('with Redis gone, await shutdown() ends at its timeout and counts what it could not deliver', async () => {
    await stopped.kill();
    const run = await runScript(stopped.url, `${r.prefix}-programmatic-gone`);
    expect(run).toEqual({ code: 0, stdout: 'done {"batchesExported":0,"pointsExported":0,"pointsDropped":10}\n', stderr: '' });
    await stopped.start();
  });
});
