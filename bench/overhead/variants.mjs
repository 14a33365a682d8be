// What the overhead benchmarks compare: the server's handlers, the variants it is started as, and
// the environment every variant gets. Shared by run.mjs (wall clock) and instructions.mjs
// (instructions counted by callgrind).
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const here = path.dirname(fileURLToPath(import.meta.url));
export const root = path.resolve(here, '..', '..');
export const serverScript = path.join(here, 'server.cjs');

/** The routes handler's paths: ROUTES_PREFIX + 0 ... ROUTES_PREFIX + (ROUTE_COUNT - 1). */
export const ROUTES_PREFIX = '/routes/r';
/** A full series table: the default cardinality limit (2,000) less room for a few others. */
export const ROUTE_COUNT = 1990;

export const HANDLERS = {
  json: { path: '/json', label: 'json: 1 KiB JSON body (res.end)' },
  stream: { path: '/stream', label: 'stream: 64 KiB as 16 writes of 4 KiB, chunked' },
  // every request another route of ROUTE_COUNT: no request finds its connection's last route, the
  // table holds ROUTE_COUNT series, and every interval exports all of them
  routes: { path: `${ROUTES_PREFIX}0`, paths: ROUTE_COUNT, label: `routes: the 1 KiB JSON body on ${ROUTE_COUNT} paths in turn (${ROUTES_PREFIX}0 ... ${ROUTES_PREFIX}${ROUTE_COUNT - 1}), a full table of series` },
};

/** The path of a handler's n-th request: its one path, or the n-th of its paths in turn. */
export function requestPath(handler, n) {
  const h = HANDLERS[handler];
  return h.paths === undefined ? h.path : `${ROUTES_PREFIX}${n % h.paths}`;
}

export const KEY_PREFIX = 'bench-overhead';
export const STREAM_KEY = `{${KEY_PREFIX}}:metrics`;
export const REDIS_URL = 'redis://127.0.0.1:6379';
export const EXPORT_INTERVAL_MS = 5000;

export const VARIANTS = {
  bare: { label: 'bare', require: [] },
  // as configured by default: its SDK, exporter and Redis client in its export worker thread
  preload: { label: 'preload (otel-bandwidth)', require: [path.join(root, 'packages', 'instrumentation', 'dist', 'register.js')], exportsToRedis: true },
  // the preload with its SDK, exporter and Redis client in the app's thread (OTEL_BANDWIDTH_EXPORT_WORKER=false)
  'preload-in-thread': {
    label: 'preload, exporting in-thread',
    require: [path.join(root, 'packages', 'instrumentation', 'dist', 'register.js')],
    env: { OTEL_BANDWIDTH_EXPORT_WORKER: 'false' },
    exportsToRedis: true,
  },
  'otel-http-metrics': { label: 'otel-http-metrics', require: [path.join(here, 'otel-http-preload.cjs')], env: { BENCH_OTEL_TRACING: '0' } },
  'otel-http-tracing': { label: 'otel-http-tracing', require: [path.join(here, 'otel-http-preload.cjs')], env: { BENCH_OTEL_TRACING: '1' } },
  // reference points, run only when named: the cheapest ways of seeing every request, measuring nothing
  'finish-listener': { label: 'finish listener (reference)', require: [path.join(here, 'reference-hooks-preload.cjs')], env: { BENCH_REFERENCE_HOOK: 'finish' } },
  'server-channels': { label: 'server channels (reference)', require: [path.join(here, 'reference-hooks-preload.cjs')], env: { BENCH_REFERENCE_HOOK: 'channels' } },
  // the noise floor: bare again, in a process of its own, compared with bare like any variant
  'bare-control': { label: 'bare again (control)', require: [] },
  // everything the preload loads and runs beside the app, exporting, with nothing hooked into node:http
  'exporter-only': { label: 'exporter only (reference)', require: [path.join(here, 'exporter-only-preload.cjs')], exportsToRedis: true },
  // another build's preload (BENCH_OTHER_PRELOAD: the path of its register.js, a checkout of another
  // commit built with `npx tsc -b`): two builds' request paths compared in one run
  'preload-other': {
    label: 'preload, other build',
    require: process.env.BENCH_OTHER_PRELOAD === undefined ? [] : [path.resolve(process.env.BENCH_OTHER_PRELOAD)],
    needs: 'BENCH_OTHER_PRELOAD',
    exportsToRedis: true,
  },
  'call-through-wrappers': { label: 'call-through wrappers (reference)', require: [path.join(here, 'reference-hooks-preload.cjs')], env: { BENCH_REFERENCE_HOOK: 'wrappers' } },
  // bare with one ArrayBuffer detached at startup: what V8's invalidated ArrayBufferDetaching protector costs the app
  'detached-buffer': { label: 'detached buffer (reference)', require: [path.join(here, 'reference-hooks-preload.cjs')], env: { BENCH_REFERENCE_HOOK: 'detach' } },
};

export const SERVER_ENV = {
  OTEL_SERVICE_NAME: 'bench',
  REDIS_URL,
  OTEL_BANDWIDTH_KEY_PREFIX: KEY_PREFIX,
  OTEL_METRIC_EXPORT_INTERVAL: String(EXPORT_INTERVAL_MS),
};

/** Checks the names in a --handlers / --variants list; returns the variants with bare first. */
export function checkSelection(handlers, variants, fail) {
  for (const h of handlers) if (!HANDLERS[h]) fail(`unknown handler ${h} (${Object.keys(HANDLERS).join(', ')})`);
  for (const v of variants) if (!VARIANTS[v]) fail(`unknown variant ${v} (${Object.keys(VARIANTS).join(', ')})`);
  for (const v of variants) {
    const needs = VARIANTS[v].needs;
    if (needs !== undefined && !process.env[needs]) fail(`variant ${v} needs ${needs} set`);
  }
  return ['bare', ...Object.keys(VARIANTS).filter((v) => v !== 'bare' && variants.includes(v))];
}
