/**
 * The preload never harms the app: ESM apps load it with --import, an idle app still exits on its
 * own (and its last interval is exported on the way out), a bad configuration costs one warning,
 * and a Redis that does not answer changes nothing for the app.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { decodeBatch, fieldsFromArray } from '@otel-bandwidth/core';
import { REGISTER, createTestRedis, startInstrumented, stopAllInstrumented, waitFor, type TestRedis } from 'test-support';

const APP = path.join(__dirname, 'fixtures', 'self-driving-server.mjs');
const APP_WITH_WORKER_THREAD = path.join(__dirname, 'fixtures', 'app-with-worker-thread.mjs');
let r: TestRedis;
beforeAll(async () => {
  r = await createTestRedis('preload_safety');
});
afterAll(async () => {
  await stopAllInstrumented();
  await r.cleanup();
});

/** Each thread of a process by its nice value (field 19 of /proc/<pid>/task/<tid>/stat). */
function threadNiceness(pid: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
    const stat = fs.readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    // the fields after the command name, which is in parentheses: state is field 3, nice 19
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), Number(fields[16]));
  }
  return out;
}

function runApp(loader: '--require' | '--import', env: Record<string, string>, app = APP, nodeFlags: string[] = []) {
  return spawnSync(process.execPath, ['--unhandled-rejections=strict', ...nodeFlags, loader, REGISTER, app], {
    encoding: 'utf8',
    env: { ...process.env, OTEL_METRIC_EXPORT_INTERVAL: '60000', OTEL_LOG_LEVEL: '', ...env },
    timeout: 30_000,
  });
}

async function recordedRequests(stream = r.keys.stream): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const [, f] of await r.redis.xrange(stream, '-', '+')) {
    for (const m of decodeBatch(fieldsFromArray(f)).metrics) {
      if (m.name !== 'http.server.request.duration' || m.type !== 'histogram') continue;
      for (const p of m.points) {
        const k = `${p.attributes['http.request.method']} ${p.attributes['http.route']}`;
        out[k] = (out[k] ?? 0) + p.count;
      }
    }
  }
  return out;
}

describe('the preload', () => {
  it('loads with --import, lets an idle app exit by itself, and exports the last interval on the way out', async () => {
    const res = runApp('--import', { OTEL_SERVICE_NAME: 'esm-app', OTEL_BANDWIDTH_KEY_PREFIX: r.prefix, REQUESTS: '4' });
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('served 4\n');
    expect(res.status).toBe(0);
    expect(res.signal).toBe(null);
    expect(await recordedRequests()).toEqual({ 'GET /items/:id': 4 });
  });

  it('with a bad configuration prints one warning and the app runs unmeasured', () => {
    const res = runApp('--require', { OTEL_METRIC_EXPORT_INTERVAL: 'fast', OTEL_BANDWIDTH_CARDINALITY_LIMIT: '-3' });
    expect(res.status).toBe(0);
    expect(res.stdout).toBe('served 3\n');
    expect(res.stderr).toBe(
      'otel-bandwidth: not measuring this process: invalid configuration:\n' +
        '  - OTEL_METRIC_EXPORT_INTERVAL="fast" is not a whole number (expected 100 to 3600000)\n' +
        '  - OTEL_BANDWIDTH_CARDINALITY_LIMIT=-3 is out of range (expected 1 to 1000000)\n',
    );
  });

  it('changes nothing for the app when Redis does not answer', () => {
    const res = runApp('--require', { REDIS_URL: 'redis://127.0.0.1:1', OTEL_BANDWIDTH_SHUTDOWN_TIMEOUT: '1000' });
    expect(res.status).toBe(0);
    expect(res.stdout).toBe('served 3\n');
    expect(res.stderr).not.toMatch(/Unhandled|Error:|at /);
  });

  it("by default keeps OpenTelemetry's SDK and the Redis client out of the app's thread, in its export worker", async () => {
    const prefix = `${r.prefix}-worker`;
    const res = runApp('--require', { OTEL_BANDWIDTH_KEY_PREFIX: prefix, REPORT_APP_THREAD_MODULES: '1' });
    expect(res.stderr).toBe('');
    expect(res.stdout).toBe('app thread: 0 SDK or Redis client modules\nserved 3\n');
    expect(res.status).toBe(0);
    // and the worker exported the app's requests on the way out
    expect(await r.redis.xlen(`{${prefix}}:metrics`)).toBe(1);
  });

  it("leaves V8's optimizations of the app's thread as they are: it invalidates no protector that the bare app keeps", async () => {
    // The first ArrayBuffer ever detached in an isolate (by a postMessage that transfers it, say)
    // invalidates V8's ArrayBufferDetaching protector: the thread's optimized code is thrown
    // away, and every typed-array access compiled after it, Node's own (Buffers, hrtime, async
    // hooks' fields, streams) included, checks for a detached buffer. The preload handing its
    // collections to the export worker by transfer once did that (bench/README.md).
    const prefix = `${r.prefix}-protectors`;
    const flags = ['--trace-protector-invalidation'];
    const env = { OTEL_BANDWIDTH_KEY_PREFIX: prefix, OTEL_METRIC_EXPORT_INTERVAL: '100', REQUESTS: '20', LINGER_MS: '600' };
    const invalidated = (stdout: string) => stdout.split('\n').filter((line) => line.startsWith('Invalidating protector cell'));
    const bare = spawnSync(process.execPath, [...flags, APP], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
    expect(bare.status).toBe(0);
    const preloaded = runApp('--require', env, APP, flags);
    expect(preloaded.stderr).toBe('');
    expect(preloaded.status).toBe(0);
    expect(preloaded.stdout).toMatch(/served 20\n$/);
    expect(invalidated(preloaded.stdout)).toEqual(invalidated(bare.stdout));
    // and its app thread handed the collected numbers to the export worker meanwhile
    expect(await recordedRequests(`{${prefix}}:metrics`)).toEqual({ 'GET /items/:id': 20 });
  });

  (process.platform === 'linux' ? it : it.skip)("leaves every thread of the process at the app's own CPU priority", async () => {
    // A lowered export worker (nice 19) was starved on a core shared with another process and,
    // holding what the process shares, stalled the app's requests by up to 228 ms (README,
    // Benchmarks): no thread of the preload's may run at another priority than the app's.
    const prefix = `${r.prefix}-priority`;
    const app = await startInstrumented(path.join(__dirname, 'fixtures', 'plain-server.js'), { OTEL_BANDWIDTH_KEY_PREFIX: prefix });
    const pid = app.child.pid as number;
    const response = await fetch(`http://127.0.0.1:${app.port}/priority`);
    await response.arrayBuffer();
    // the export worker is up and has exported (every 200 ms here)
    await waitFor('an export', async () => ((await r.redis.xlen(`{${prefix}}:metrics`)) > 0 ? true : undefined));
    const niceness = threadNiceness(pid);
    expect(niceness.size).toBeGreaterThan(1);
    expect([...niceness.values()].filter((nice) => nice !== 0)).toEqual([]);
    await app.stop();
  });

  it("with OTEL_BANDWIDTH_EXPORT_WORKER=false runs them in the app's thread", async () => {
    const prefix = `${r.prefix}-in-thread`;
    const res = runApp('--require', { OTEL_BANDWIDTH_KEY_PREFIX: prefix, OTEL_BANDWIDTH_EXPORT_WORKER: 'false', REPORT_APP_THREAD_MODULES: '1' });
    expect(res.stderr).toBe('');
    expect(res.stdout).toMatch(/^app thread: [1-9]\d* SDK or Redis client modules\nserved 3\n$/);
    expect(res.status).toBe(0);
    expect(await r.redis.xlen(`{${prefix}}:metrics`)).toBe(1);
  });

  it("in an app's own worker thread exports from that thread, not from an export worker of its own", async () => {
    const prefix = `${r.prefix}-app-worker`;
    const res = runApp('--require', { OTEL_BANDWIDTH_KEY_PREFIX: prefix, REPORT_APP_THREAD_MODULES: '1' }, APP_WITH_WORKER_THREAD);
    expect(res.stderr).toBe('');
    expect(res.stdout).toMatch(/^app thread: [1-9]\d* SDK or Redis client modules\nserved 3\nworker exited 0\n$/);
    expect(res.status).toBe(0);
    // the app's worker thread exported its requests when it ended; the main thread had none
    expect(await recordedRequests(`{${prefix}}:metrics`)).toEqual({ 'GET /items/:id': 3 });
  });

  it('where no worker thread may start, warns once and exports from the app\'s thread', async () => {
    // Node's permission model without --allow-worker: `new Worker` throws ERR_ACCESS_DENIED
    const prefix = `${r.prefix}-no-worker`;
    const res = runApp('--require', { OTEL_BANDWIDTH_KEY_PREFIX: prefix, REPORT_APP_THREAD_MODULES: '1' }, APP, [
      '--experimental-permission',
      '--allow-fs-read=*',
      '--no-warnings',
    ]);
    expect(res.stderr).toBe("otel-bandwidth: no export worker (Access to this API has been restricted); exporting from the app's thread\n");
    expect(res.stdout).toMatch(/^app thread: [1-9]\d* SDK or Redis client modules\nserved 3\n$/);
    expect(res.status).toBe(0);
    expect(await recordedRequests(`{${prefix}}:metrics`)).toEqual({ 'GET /items/:id': 3 });
  });

  it('is off with OTEL_BANDWIDTH_ENABLED=false', async () => {
    const res = runApp('--require', { OTEL_BANDWIDTH_ENABLED: 'false', OTEL_BANDWIDTH_KEY_PREFIX: `${r.prefix}-off` });
    expect(res.status).toBe(0);
    expect(await r.redis.exists(`{${r.prefix}-off}:metrics`)).toBe(0);
  });
});
