import net from 'node:net';
import { DEFAULT_API_PORT, type HourlyRow, type StatusResponse } from '@otel-bandwidth/query-api';
import { apiBaseUrl, apiToken, fetchJson } from '../api-json';
import { API_CLIENT_ENVIRONMENT_HELP, helpOrOptions, readOptions, type Command } from '../command';
import { nearestRank } from '../latency-table';
import { parseHeader, parseRequestSpec, type PlannedRequest } from '../load-plan';
import { progressBar } from '../progress-bar';
import { addedSince, firstCountedHour, hoursParameter, sumTotals, totalsByRoute, type RouteTotals, type Totals } from '../stored-totals';
import { driveTraffic, type EndpointCount, type TrafficResult } from '../traffic-generator';

export interface LoadtestOptions {
  targetUrl: string;
  apiUrl: string;
  /** the API's bearer token, if it wants one */
  apiToken: string | undefined;
  service: string;
  durationSeconds: number;
  connections: number;
  requests: PlannedRequest[];
  /** on every request but Content-Type, which goes to requests with a body */
  headers: Record<string, string>;
  /** the bodies' Content-Type (default application/json) */
  contentType: string | undefined;
  /** how long to wait for the pipeline to store what was sent */
  waitSeconds: number;
}

/** The service's origin (--target): http(s), no path (the requests name theirs). */
function targetOrigin(what: string, text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`${what} "${text}" is not a URL (for example http://127.0.0.1:3000)`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`${what} "${text}" must be http: or https:`);
  if (url.pathname !== '/' || url.search !== '') throw new Error(`${what} "${text}" must be an origin only (paths go in --request)`);
  return url.origin;
}

export function parseLoadtestArgs(args: readonly string[], env: NodeJS.ProcessEnv, cwd: string = process.cwd()): LoadtestOptions {
  let target: string | undefined;
  let service: string | undefined;
  let apiUrl = env.OTEL_BANDWIDTH_API_URL || `http://127.0.0.1:${DEFAULT_API_PORT}`;
  let token: string | undefined;
  const opts = { durationSeconds: 30, connections: 16, waitSeconds: 180 };
  const requests: PlannedRequest[] = [];
  const headers: Record<string, string> = {};
  readOptions('loadtest', args, (a, value, whole) => {
    if (a === '--target') target = value();
    else if (a === '--service') service = value();
    else if (a === '--api') apiUrl = value();
    else if (a === '--token') token = value();
    else if (a === '--request') requests.push(parseRequestSpec(value(), cwd));
    else if (a === '--header') {
      const [name, v] = parseHeader(value());
      headers[name] = v;
    } else if (a === '--duration') opts.durationSeconds = whole(1, 3600);
    else if (a === '--connections') opts.connections = whole(1, 1024);
    else if (a === '--wait') opts.waitSeconds = whole(1, 3600);
    else return false;
    return true;
  });
  if (target === undefined) throw new Error('--target is required: the instrumented service, for example --target http://127.0.0.1:3000');
  if (service === undefined || service === '') throw new Error("--service is required: the service's name as it reports it (its OTEL_SERVICE_NAME)");
  if (requests.length === 0) throw new Error('name at least one --request, for example --request "GET /api/products"');
  const contentType = Object.keys(headers).find((name) => name.toLowerCase() === 'content-type');
  const bodyType = contentType === undefined ? undefined : headers[contentType];
  if (contentType !== undefined) delete headers[contentType];
  return { ...opts, targetUrl: targetOrigin('--target', target), apiUrl: apiBaseUrl(apiUrl, `http://127.0.0.1:${DEFAULT_API_PORT}`), apiToken: apiToken(token, env), service, requests, headers, contentType: bodyType };
}

/** Whether a TCP connection to the target opens: asked before any request, so that nothing is sent that is not counted. */
function reachable(origin: string, timeoutMs = 5000): Promise<string | undefined> {
  const url = new URL(origin);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve) => {
    const socket = net.connect({ host: url.hostname, port, timeout: timeoutMs });
    const done = (why: string | undefined): void => {
      socket.destroy();
      resolve(why);
    };
    socket.once('connect', () => done(undefined));
    socket.once('timeout', () => done(`no connection within ${timeoutMs} ms`));
    socket.once('error', (err: NodeJS.ErrnoException) => done(err.code ?? err.message));
  });
}

const num = (n: number): string => n.toLocaleString('en-US');
const ms = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(2));

/** Lines of a table: the first `left` columns left-aligned, the rest right-aligned. */
function table(rows: string[][], left: number): string[] {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((cells) => cells.map((c, i) => (i < left ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ').trimEnd());
}

interface ClientTotals extends Totals {
  failures: number;
}

function clientTotals(counts: readonly EndpointCount[]): ClientTotals {
  const sent = sumTotals(counts.map((c) => ({ requests: c.requests, bytesIn: c.bytesSent, bytesOut: c.bytesReceived, errors: 0, durationMs: c.latencySumMs })));
  return { ...sent, failures: counts.reduce((n, c) => n + c.failures, 0) };
}

async function storedRoutes(opts: LoadtestOptions, fromHourMs: number): Promise<Map<string, RouteTotals> | { error: string }> {
  const query = new URLSearchParams({ hours: String(hoursParameter(fromHourMs, Date.now())), service: opts.service });
  const rows = await fetchJson<HourlyRow[]>(`${opts.apiUrl}/metrics/hourly?${query}`, { timeoutMs: 10_000, token: opts.apiToken });
  return 'error' in rows ? rows : totalsByRoute(rows, fromHourMs);
}

function printSent(traffic: TrafficResult, opts: LoadtestOptions, out: (line: string) => unknown): void {
  const rows = [['METHOD', 'PATH', 'REQUESTS', 'FAILED', 'BODY BYTES SENT', 'BODY BYTES RECEIVED', 'P50 MS', 'P95 MS', 'P99 MS']];
  for (const r of opts.requests) {
    const c = traffic.endpoints.find((e) => e.endpoint === r.spec);
    if (c === undefined) continue;
    rows.push([
      r.method, r.path + (r.bodyFile === undefined ? '' : ` (@${r.bodyFile})`), num(c.requests), num(c.failures), num(c.bytesSent), num(c.bytesReceived),
      ms(nearestRank(c.latenciesMs, 0.5)), ms(nearestRank(c.latenciesMs, 0.95)), ms(nearestRank(c.latenciesMs, 0.99)),
    ]);
  }
  out('');
  out('Sent, as the load test counted it (answered requests; latency as the client saw it)');
  for (const line of table(rows, 2)) out(line);
}

function printStored(added: readonly RouteTotals[], out: (line: string) => unknown): void {
  const rows = [['METHOD', 'ROUTE', 'REQUESTS', 'ERRORS', 'BODY BYTES IN', 'BODY BYTES OUT', 'AVG MS']];
  for (const r of added) rows.push([r.method, r.endpoint, num(r.requests), num(r.errors), num(r.bytesIn), num(r.bytesOut), ms(r.requests ? r.durationMs / r.requests : undefined)]);
  out('');
  out('Stored, as the pipeline counted it (added to MySQL since the start, per route; server time)');
  if (added.length === 0) out('  nothing');
  else for (const line of table(rows, 2)) out(line);
}

/** Prints the three totals side by side; true when all three are equal. */
function printVerdict(sent: ClientTotals, stored: Totals, out: (line: string) => unknown): boolean {
  const lines: Array<[string, number, number]> = [
    ['requests', sent.requests, stored.requests],
    ['request body bytes', sent.bytesIn, stored.bytesIn],
    ['response body bytes', sent.bytesOut, stored.bytesOut],
  ];
  const rows = [['', 'TOTAL', 'LOAD TEST', 'PIPELINE', 'DIFFERENCE'], ...lines.map(([what, a, b]) => [a === b ? '✓' : '✗', what, num(a), num(b), b === a ? '0' : `${b > a ? '+' : ''}${num(b - a)}`])];
  out('');
  for (const line of table(rows, 2)) out(line);
  return lines.every(([, a, b]) => a === b);
}

/**
 * Drives traffic at an instrumented service and checks that the pipeline stored exactly what was
 * sent: requests, request body bytes and response body bytes, for the service, between a reading
 * of GET /metrics/hourly before the traffic and one after. 0 when they are equal, 1 when not (or
 * the pipeline did not store it all within --wait).
 */
export async function runLoadtest(opts: LoadtestOptions, out: (line: string) => unknown, progress?: (line: string) => unknown): Promise<number> {
  out(`otel-bandwidth loadtest`);
  const status = await fetchJson<StatusResponse>(`${opts.apiUrl}/metrics/status`, { timeoutMs: 10_000, token: opts.apiToken });
  if ('error' in status) {
    out(`  query API     ${status.error}`);
    return 1;
  }
  out(`  query API     ${opts.apiUrl}  (pipeline ${status.status}, backlog ${num(status.bufferSize)} entries, ${status.activeConsumers} aggregator${status.activeConsumers === 1 ? '' : 's'} active)`);
  for (const p of status.problems) out(`                ! ${p}`);
  const unreachable = await reachable(opts.targetUrl);
  if (unreachable !== undefined) {
    out(`  target        ${opts.targetUrl} does not take connections (${unreachable}); is the service running there?`);
    return 1;
  }
  out(`  target        ${opts.targetUrl}  (service "${opts.service}")`);

  const start = Date.now();
  const fromHour = firstCountedHour(start);
  const before = await storedRoutes(opts, fromHour);
  if ('error' in before) {
    out(`  reading what is stored: ${before.error}`);
    return 1;
  }

  const durationMs = opts.durationSeconds * 1000;
  out('');
  out(`Driving traffic for ${opts.durationSeconds} s over ${opts.connections} keep-alive connection${opts.connections === 1 ? '' : 's'}`);
  let lastLine = 0;
  const traffic = await driveTraffic({
    baseUrl: opts.targetUrl,
    durationMs,
    concurrency: opts.connections,
    targets: opts.requests.map((r) => ({
      endpoint: r.spec,
      method: r.method,
      path: () => r.path,
      ...(r.body === undefined ? {} : { body: () => r.body as Buffer }),
      ...(opts.contentType === undefined ? {} : { contentType: opts.contentType }),
      headers: opts.headers,
      weight: r.weight,
    })),
    onProgress: (elapsed, requests) => {
      if (progress !== undefined) progress(`\r${progressBar(elapsed, durationMs, requests)}`);
      else if (elapsed - lastLine >= 5000 || elapsed >= durationMs) {
        lastLine = elapsed;
        out(progressBar(elapsed, durationMs, requests));
      }
    },
  });
  if (progress !== undefined) progress('\n');
  const sent = clientTotals(traffic.endpoints);
  out(`Sent ${num(sent.requests)} requests (${num(Math.round(sent.requests / opts.durationSeconds))} a second)${sent.failures ? `, ${num(sent.failures)} failed (first: ${traffic.firstFailure ?? 'unknown'})` : ''}`);
  if (sent.requests === 0) {
    out(
      `No request was answered, so there is nothing to compare (the first failure: ${traffic.firstFailure ?? 'unknown'}; ` +
        'a certificate the client does not trust is named NODE_EXTRA_CA_CERTS=<its CA file>).',
    );
    return 1;
  }

  const waitStart = Date.now();
  let added: RouteTotals[] = [];
  let stored = sumTotals([]);
  let readError: string | undefined;
  for (;;) {
    const after = await storedRoutes(opts, fromHour);
    if ('error' in after) readError = after.error;
    else {
      readError = undefined;
      added = addedSince(before, after);
      stored = sumTotals(added);
    }
    const waited = Date.now() - waitStart;
    if (stored.requests >= sent.requests || waited >= opts.waitSeconds * 1000) break;
    progress?.(`\rWaiting for the pipeline to store them: ${num(stored.requests)} of ${num(sent.requests)} requests after ${(waited / 1000).toFixed(0)} s `);
    await new Promise((r) => setTimeout(r, 1000));
  }
  if (progress !== undefined) progress('\n');
  const waitedSeconds = ((Date.now() - waitStart) / 1000).toFixed(1);
  if (readError !== undefined) out(`Reading what is stored failed at the end: ${readError}`);
  out(`The pipeline stored ${num(stored.requests)} of them within ${waitedSeconds} s`);

  printSent(traffic, opts, out);
  printStored(added, out);
  const exact = printVerdict(sent, stored, out);
  out('');
  if (exact) {
    out('Every request and every body byte the load test counted is in MySQL, exactly.');
    return 0;
  }
  if (stored.requests < sent.requests) {
    out(
      `The pipeline stored ${num(sent.requests - stored.requests)} fewer requests within --wait ${opts.waitSeconds} s. Is the service exporting to the Redis ` +
        `stream an aggregator of this API reads (REDIS_URL, OTEL_BANDWIDTH_KEY_PREFIX), under the name "${opts.service}" (OTEL_SERVICE_NAME)? ` +
        `A longer OTEL_METRIC_EXPORT_INTERVAL needs a longer --wait.`,
    );
  } else if (stored.requests > sent.requests) {
    out(`The pipeline stored ${num(stored.requests - sent.requests)} more requests than were sent: other traffic reached "${opts.service}" during the test (the comparison needs the service to itself).`);
  } else {
    out('The requests match but the bytes do not (rows marked ✗).');
  }
  if (sent.failures > 0) out(`${num(sent.failures)} requests failed on the client; the service may have counted some of them.`);
  return 1;
}

export const loadtestCommand: Command = {
  name: 'loadtest',
  summary: "load an instrumented service and check the pipeline stored exactly what was sent",
  help: `Usage: otel-bandwidth loadtest --target URL --service NAME --request "METHOD PATH [@BODY_FILE] [*WEIGHT]" ...
                                [--header "Name: value"] ... [--duration 30] [--connections 16] [--wait 180] [--api URL] [--token T]

Sends requests to a running, instrumented service for --duration seconds over keep-alive
connections, counting on the client every request and every body byte sent and received. Then it
waits until the pipeline has stored as many requests for the service (GET /metrics/hourly of the
query API, read before and after: what was added in between), and prints both counts per request
and per route with the three totals side by side: requests, request body bytes and response body
bytes must be equal. Exit status 0 when they are, 1 when not or when the pipeline did not store
them within --wait. The service must have no other traffic meanwhile.

  --target URL       the service's origin, e.g. http://127.0.0.1:3000 (https: with a certificate of a
                     private CA: NODE_EXTRA_CA_CERTS=<the CA's file>)
  --service NAME     its service name as it reports it (OTEL_SERVICE_NAME)
  --request SPEC     a request to send, repeatable: "GET /api/products", "POST /api/orders @order.json"
                     (the body from a file, sent as application/json unless --header sets Content-Type),
                     "GET /api/products/7 *3" (picked three times as often as a request of weight 1)
  --header "N: v"    a header on every request, repeatable (authorization, a user id header ...)
  --duration S       seconds of traffic, 1-3600 (default 30)
  --connections N    keep-alive connections, 1-1024 (default 16)
  --wait S           seconds to wait for the pipeline afterwards (default 180: the service's export
                     interval, OTEL_METRIC_EXPORT_INTERVAL, 60 s by default, plus the aggregator's)
  --api URL          the query API (default OTEL_BANDWIDTH_API_URL, else http://127.0.0.1:${DEFAULT_API_PORT})
  --token T          the API's bearer token, if it wants one (default OTEL_BANDWIDTH_API_TOKEN)

${API_CLIENT_ENVIRONMENT_HELP}`,
  async run(args) {
    const opts = helpOrOptions(this, args, () => parseLoadtestArgs(args, process.env));
    if ('exitCode' in opts) return opts.exitCode;
    return runLoadtest(
      opts,
      (line) => process.stdout.write(`${line}\n`),
      process.stdout.isTTY ? (text) => process.stdout.write(text) : undefined,
    );
  },
};
