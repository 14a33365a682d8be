// The benchmark's synthetic stream: what `services x replicas` processes, each with `series`
// route/status series, would export over `intervals` export intervals of 5 s, in the wire format
// (encodeBatch of the built @otel-bandwidth/core). Every value is a function of (service,
// interval, series), so the totals MySQL must end up with are known exactly. Replicas of one
// service send the same body under their own batch ids, so the producer encodes each
// (service, interval) body once.
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(import.meta.url);
export const core = require(path.join(ROOT, 'packages', 'core', 'dist', 'index.js'));

export const INTERVAL_MS = 5000;
export const SCOPE = '@otel-bandwidth/instrumentation';
const BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];
const STATUSES = [200, 201, 304, 404, 503];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE'];
/** histograms per series, as the instrumentation exports them */
export const METRICS_PER_SERIES = 5;

export function serviceName(s) {
  return `bench-svc-${String(s).padStart(3, '0')}`;
}

/** series i: route floor(i / 5) with one of five statuses */
export function seriesOf(i) {
  const route = Math.floor(i / STATUSES.length);
  return { route: `/api/v1/resource-${route}/:id`, method: METHODS[route % METHODS.length], status: STATUSES[i % STATUSES.length] };
}

/** the values of series i of service s in interval k (integers, except durations) */
export function valuesOf(s, k, i) {
  const count = 1 + ((s * 31 + k * 7 + i * 13) % 20);
  const inBytes = count * (i % 3) * 100;
  const outBytes = count * (200 + (i % 11) * 37);
  const durationS = 0.001 * (1 + (i % 40));
  return { count, inBytes, outBytes, inWire: inBytes + count * 150, outWire: outBytes + count * 120, durationS };
}

function bucketOf(seconds) {
  const i = BOUNDS.findIndex((b) => seconds <= b);
  return i === -1 ? BOUNDS.length : i;
}

/** The MetricBatch service s exports in interval k (data time startMs + k * 5 s). */
export function batchOf(s, k, series, startMs, batchId) {
  const start = startMs + k * INTERVAL_MS;
  const end = start + INTERVAL_MS;
  const attrs = [];
  const vals = [];
  for (let i = 0; i < series; i++) {
    const x = seriesOf(i);
    attrs.push({
      'http.request.method': x.method,
      'http.route': x.route,
      'http.response.status_code': x.status,
      'url.scheme': 'http',
      'network.protocol.version': '1.1',
    });
    vals.push(valuesOf(s, k, i));
  }
  const hist = (name, unit, boundaries, point) => ({
    name,
    unit,
    scope: SCOPE,
    type: 'histogram',
    temporality: 'delta',
    boundaries,
    points: vals.map((v, i) => ({ attributes: attrs[i], startTimeMs: start, endTimeMs: end, ...point(v) })),
  });
  const size = (field) => (v) => ({ count: v.count, sum: v[field], min: v[field] / v.count, max: v[field] / v.count, bucketCounts: [v.count] });
  return {
    batchId,
    startTimeMs: start,
    endTimeMs: end,
    resource: { 'service.name': serviceName(s), 'telemetry.sdk.language': 'nodejs' },
    metrics: [
      hist('http.server.request.duration', 's', BOUNDS, (v) => {
        const b = new Array(BOUNDS.length + 1).fill(0);
        b[bucketOf(v.durationS)] = v.count;
        return { count: v.count, sum: v.count * v.durationS, min: v.durationS, max: v.durationS, bucketCounts: b };
      }),
      hist('http.server.request.body.size', 'By', [], size('inBytes')),
      hist('http.server.response.body.size', 'By', [], size('outBytes')),
      hist('otel_bandwidth.http.server.request.wire.size', 'By', [], size('inWire')),
      hist('otel_bandwidth.http.server.response.wire.size', 'By', [], size('outWire')),
    ],
  };
}

/** The stream fields of service s's body in interval k, without the batch id. */
export function encodedBody(s, k, series, startMs) {
  const f = core.encodeBatch(batchOf(s, k, series, startMs, 'x:1'));
  return { n: f.n, body: f.body };
}

/** What metrics_hourly must hold per service, summed over every hour, for the whole stream. */
export function expectedTotals({ services, replicas, series, intervals }) {
  const out = new Map();
  for (let s = 0; s < services; s++) {
    const t = { requests: 0, inbound: 0, outbound: 0, inboundWire: 0, outboundWire: 0, errors: 0 };
    for (let k = 0; k < intervals; k++) {
      for (let i = 0; i < series; i++) {
        const v = valuesOf(s, k, i);
        t.requests += v.count;
        t.inbound += v.inBytes;
        t.outbound += v.outBytes;
        t.inboundWire += v.inWire;
        t.outboundWire += v.outWire;
        if (seriesOf(i).status >= 400) t.errors += v.count;
      }
    }
    for (const key of Object.keys(t)) t[key] *= replicas;
    out.set(serviceName(s), t);
  }
  return out;
}

export function streamShape({ services, replicas, series, intervals }) {
  const entries = services * replicas * intervals;
  return { processes: services * replicas, entries, points: entries * series * METRICS_PER_SERIES };
}
