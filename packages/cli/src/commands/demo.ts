import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { Aggregator, AlertMonitor, parseAlertRules, type AlertRule } from '@otel-bandwidth/aggregator';
import {
  DEFAULT_KEY_PREFIX,
  DEFAULT_MYSQL_URL,
  DEFAULT_REDIS_URL,
  EnvReader,
  MINUTE_MS,
  REALTIME_BLOCK_MS,
  REALTIME_TTL_SECONDS,
  ROUTE_UNMATCHED,
  minuteStart,
  realtimeBlockStart,
  redactUrl,
  redisKeys,
} from '@otel-bandwidth/core';
import { buildQueryApi, DEFAULT_API_PORT, type EndpointsResponse, type HourlyRow } from '@otel-bandwidth/query-api';
import { dropDatabase, migrate } from '@otel-bandwidth/storage';
import type Redis from 'ioredis';
import { connectCheckedMysql, connectRedis } from '../backing-services';
import { helpOrOptions, readOptions, type Command } from '../command';
import { printComparison, type ComparisonRow } from '../comparison-table';
import { printLatency } from '../latency-table';
import { progressBar } from '../progress-bar';
import { driveTraffic, type TrafficTarget } from '../traffic-generator';

const DEMO_DATABASE = 'otel_bandwidth_demo';
const DEMO_PREFIX = 'otel-bandwidth-demo';
const DEMO_SERVICE = 'demo-shop';
const DEMO_USERS = 40;
/** Above this outbound rate an endpoint of the demo raises an alert: the shop's list and report pages do. */
const DEMO_ALERT_ABOVE = 50 * 1024;

/** The demo's alert rule: a threshold on each endpoint's outbound bandwidth over the minutes the traffic ran in. */
function demoAlertRules(durationSeconds: number): AlertRule[] {
  const windowMinutes = Math.min(60, Math.ceil(durationSeconds / 60) + 1);
  return parseAlertRules(
    JSON.stringify([
      { name: 'demo-egress', type: 'threshold', metric: 'outbound', per: 'endpoint', windowMinutes, above: DEMO_ALERT_ABOVE, severity: 'high', service: DEMO_SERVICE },
    ]),
  );
}

const SHOP_TARGETS: TrafficTarget[] = [
  { endpoint: '/api/products', method: 'GET', path: () => '/api/products', weight: 4 },
  { endpoint: '/api/products/:id', method: 'GET', path: () => `/api/products/${1 + Math.floor(Math.random() * 45)}`, weight: 6 },
  {
    endpoint: '/api/orders',
    method: 'POST',
    path: () => '/api/orders',
    body: () => JSON.stringify({ items: Array.from({ length: 1 + Math.floor(Math.random() * 5) }, (_, i) => ({ sku: i, qty: 1 })) }),
    weight: 3,
  },
  { endpoint: '/api/reports/daily', method: 'GET', path: () => '/api/reports/daily', weight: 1 },
  { endpoint: '/api/fail', method: 'GET', path: () => '/api/fail', weight: 0.5 },
  { endpoint: ROUTE_UNMATCHED, method: 'GET', path: () => `/no-such-page/${Math.floor(Math.random() * 1e6)}`, weight: 0.5 },
];

interface DemoOptions {
  durationSeconds: number;
  connections: number;
  keep: boolean;
  app: string;
  /** the demo's own database on MYSQL_URL's server: dropped and created afresh */
  database: string;
  /** the demo's own Redis key prefix: its keys are deleted at the start */
  keyPrefix: string;
}

function parseDemoArgs(args: string[]): DemoOptions {
  const opts: DemoOptions = {
    durationSeconds: 20,
    connections: 8,
    keep: Boolean(process.stdout.isTTY && process.stdin.isTTY),
    app: path.resolve(__dirname, '..', '..', '..', '..', 'examples', 'shop', 'app.js'),
    database: DEMO_DATABASE,
    keyPrefix: DEMO_PREFIX,
  };
  readOptions('demo', args, (a, value) => {
    if (a === '--duration') opts.durationSeconds = positive(value(), a);
    else if (a === '--connections') opts.connections = positive(value(), a);
    else if (a === '--keep') opts.keep = true;
    else if (a === '--no-keep') opts.keep = false;
    else if (a === '--app') opts.app = path.resolve(value());
    else if (a === '--database') opts.database = matching(value(), a, /^[A-Za-z0-9_$-]{1,64}$/, 'letters, digits, _, $ and -');
    else if (a === '--key-prefix') opts.keyPrefix = matching(value(), a, /^[^{}\s]{1,64}$/, 'no braces or spaces');
    else return false;
    return true;
  });
  return opts;
}

function matching(v: string, name: string, pattern: RegExp, rule: string): string {
  if (!pattern.test(v)) throw new Error(`${name} "${v}" is not a valid name (${rule})`);
  return v;
}

function positive(v: string, name: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got "${v}"`);
  return n;
}

function demoDatabaseUrl(mysqlUrl: string, database: string): string {
  const u = new URL(mysqlUrl);
  u.pathname = `/${database}`;
  return u.toString();
}

async function resetDemoKeys(redis: Redis, keyPrefix: string): Promise<void> {
  const keys = redisKeys(keyPrefix);
  const now = minuteStart(Date.now());
  const minuteKeys: string[] = [];
  for (let m = now - REALTIME_TTL_SECONDS * 1000; m <= now + MINUTE_MS; m += MINUTE_MS) minuteKeys.push(keys.realtimeMinute(m), keys.realtimeServiceMinute(m));
  // a block left behind would be read in place of its (deleted) minutes
  for (let b = realtimeBlockStart(now - REALTIME_TTL_SECONDS * 1000); b <= now + MINUTE_MS; b += REALTIME_BLOCK_MS) minuteKeys.push(keys.realtimeBlock(b));
  await redis.del(keys.stream, keys.deadLetter, keys.aggregatorStatus, keys.alertLease, ...minuteKeys);
}

function startShop(appPath: string, redisUrl: string, keyPrefix: string): Promise<{ child: ChildProcess; port: number }> {
  const register = require.resolve('@otel-bandwidth/instrumentation/register');
  const child = fork(appPath, [], {
    execArgv: ['--require', register],
    cwd: path.dirname(appPath),
    env: {
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      REDIS_URL: redisUrl,
      OTEL_SERVICE_NAME: DEMO_SERVICE,
      OTEL_BANDWIDTH_KEY_PREFIX: keyPrefix,
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      OTEL_BANDWIDTH_USER_HEADER: 'x-user-id',
    },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${appPath} did not start listening within 15 s`)), 15_000);
    child.once('message', (m: unknown) => {
      clearTimeout(timer);
      const port = (m as { listening?: unknown }).listening;
      if (typeof port === 'number') resolve({ child, port });
      else reject(new Error(`unexpected message from the example service: ${JSON.stringify(m)}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the example service exited with code ${code} before listening`));
    });
  });
}


export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the whole pipeline on an example service and compare its numbers',
  help: `Usage: otel-bandwidth demo [--duration 20] [--connections 8] [--keep | --no-keep] [--app path]
                          [--database ${DEMO_DATABASE}] [--key-prefix ${DEMO_PREFIX}]

Migrates a demo database, starts an aggregator and the query API, starts the example shop under
the preload, drives traffic at it, then prints per endpoint what the query API reports beside what
the traffic generator counted itself.
With --keep (the default on a terminal) everything stays up until Ctrl-C.

The demo keeps to names of its own, so that it never touches a deployment's data:
  --database NAME    its database on MYSQL_URL's server, DROPPED and created afresh at each run
                     (default ${DEMO_DATABASE}; MYSQL_URL's own database name is not used)
  --key-prefix P     its Redis key prefix; the prefix's stream and realtime keys are deleted at
                     the start (default ${DEMO_PREFIX}; OTEL_BANDWIDTH_KEY_PREFIX is not used)

Environment:
  REDIS_URL                      Redis (default redis://127.0.0.1:6379)
  MYSQL_URL                      the MySQL or MariaDB server and its user (default mysql://root@127.0.0.1:3306)
  OTEL_BANDWIDTH_API_PORT        query API port (default ${DEFAULT_API_PORT}; a free one if taken)`,
  async run(args) {
    const opts = helpOrOptions(this, args, () => parseDemoArgs(args));
    if ('exitCode' in opts) return opts.exitCode;
    const env = new EnvReader();
    const redisUrl = env.url('REDIS_URL', DEFAULT_REDIS_URL, ['redis', 'rediss']);
    const serverUrl = env.url('MYSQL_URL', DEFAULT_MYSQL_URL, ['mysql', 'mariadb']);
    // the demo drops its database and deletes its keys: never a deployment's
    const deployed = {
      databases: new Set([new URL(DEFAULT_MYSQL_URL).pathname.slice(1), new URL(serverUrl).pathname.slice(1)]),
      prefixes: new Set([DEFAULT_KEY_PREFIX, process.env.OTEL_BANDWIDTH_KEY_PREFIX ?? DEFAULT_KEY_PREFIX]),
    };
    if (deployed.databases.has(opts.database)) {
      env.problem(`--database ${opts.database} is a deployment's database (the default, or MYSQL_URL's); the demo drops its database: name another`);
    }
    if (deployed.prefixes.has(opts.keyPrefix)) {
      env.problem(`--key-prefix ${opts.keyPrefix} is a deployment's prefix (the default, or OTEL_BANDWIDTH_KEY_PREFIX); the demo deletes its stream: name another`);
    }
    const mysqlUrl = demoDatabaseUrl(serverUrl, opts.database);
    const apiPort = env.int('OTEL_BANDWIDTH_API_PORT', DEFAULT_API_PORT, { min: 0, max: 65535 });
    env.done();
    const out = (s: string): boolean => process.stdout.write(`${s}\n`);

    out('otel-bandwidth demo');
    const redis = await connectRedis(redisUrl);
    out(`  Redis         ${redactUrl(redisUrl)}  ok`);
    await dropDatabase(mysqlUrl);
    const migrated = await migrate(mysqlUrl);
    const mysql = await connectCheckedMysql(mysqlUrl);
    out(`  MySQL         ${redactUrl(mysqlUrl)}  ok (fresh database, ${migrated.applied} migration${migrated.applied === 1 ? "" : "s"} applied)`);
    await resetDemoKeys(redis, opts.keyPrefix);

    const aggregator = new Aggregator({ redis, mysql, keyPrefix: opts.keyPrefix, consumer: 'demo', flushIntervalMs: 1000, log: () => undefined });
    await aggregator.start();
    out(`  aggregator    reading ${aggregator.keys.stream}, one MySQL transaction a second`);

    const api = buildQueryApi({ redis, mysql, keyPrefix: opts.keyPrefix });
    let apiAddress: string;
    try {
      apiAddress = await api.listen({ host: '127.0.0.1', port: apiPort });
    } catch (err) {
      if ((err as { code?: string }).code !== 'EADDRINUSE') throw err;
      apiAddress = await api.listen({ host: '127.0.0.1', port: 0 });
      out(`  (port ${apiPort} is taken; the API took a free one)`);
    }
    out(`  query API     ${apiAddress}`);

    const shop = await startShop(opts.app, redisUrl, opts.keyPrefix);
    const shopUrl = `http://127.0.0.1:${shop.port}`;
    out(`  example shop  ${shopUrl}  (node --require @otel-bandwidth/instrumentation/register ${path.relative(process.cwd(), opts.app)})`);

    let exitCode = 0;
    try {
      out(`\nDriving traffic for ${opts.durationSeconds} s over ${opts.connections} keep-alive connections`);
      const durationMs = opts.durationSeconds * 1000;
      let lastLine = 0;
      const traffic = await driveTraffic({
        baseUrl: shopUrl,
        users: DEMO_USERS,
        durationMs,
        concurrency: opts.connections,
        targets: SHOP_TARGETS,
        onProgress: (elapsed, requests) => {
          if (process.stdout.isTTY) process.stdout.write(`\r${progressBar(elapsed, durationMs, requests)}`);
          else if (elapsed - lastLine >= 5000 || elapsed >= durationMs) {
            lastLine = elapsed;
            out(progressBar(elapsed, durationMs, requests));
          }
        },
      });
      if (process.stdout.isTTY) out('');
      const counts = traffic.endpoints;
      const sent = counts.reduce((s, c) => s + c.requests, 0);

      const waitStart = Date.now();
      process.stdout.write('Waiting for the last interval to reach MySQL ...');
      let rows: HourlyRow[] = [];
      for (;;) {
        const res = await fetch(`${apiAddress}/metrics/hourly?hours=2&service=${DEMO_SERVICE}`);
        rows = (await res.json()) as HourlyRow[];
        const stored = rows.reduce((s, r) => s + r.total_requests, 0);
        if (stored >= sent || Date.now() - waitStart > 30_000) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      out(` ${((Date.now() - waitStart) / 1000).toFixed(1)} s`);

      const byEndpoint = new Map<string, ComparisonRow>();
      for (const c of counts) {
        byEndpoint.set(`${c.method} ${c.endpoint}`, {
          method: c.method,
          endpoint: c.endpoint,
          client: { requests: c.requests, bytesIn: c.bytesSent, bytesOut: c.bytesReceived, avgMs: c.requests ? c.latencySumMs / c.requests : 0 },
        });
      }
      for (const r of rows) {
        const key = `${r.method} ${r.endpoint}`;
        const row = byEndpoint.get(key) ?? { method: r.method, endpoint: r.endpoint };
        const api = row.api ?? { requests: 0, bytesIn: 0, bytesOut: 0, avgMs: 0 };
        const durationSum = api.avgMs * api.requests + r.avg_response_time * r.total_requests;
        api.requests += r.total_requests;
        api.bytesIn += r.total_inbound;
        api.bytesOut += r.total_outbound;
        api.avgMs = api.requests ? durationSum / api.requests : 0;
        row.api = api;
        byEndpoint.set(key, row);
      }
      const exact = printComparison([...byEndpoint.values()], out);
      out(
        exact
          ? '\nEvery request and every byte the generator counted is in MySQL, exactly.'
          : '\nThe pipeline and the generator disagree (see the rows marked ✗).',
      );
      const latency = (await (await fetch(`${apiAddress}/metrics/endpoints?hours=2&service=${DEMO_SERVICE}&sort=p95&limit=1000`)).json()) as EndpointsResponse;
      printLatency(
        latency.endpoints.map((e) => ({
          method: e.method,
          endpoint: e.endpoint,
          api: e,
          client: counts.find((c) => c.method === e.method && c.endpoint === e.endpoint)?.latenciesMs,
        })),
        out,
      );
      // the alert rule over the minutes the traffic ran in (this one and those before it), as an
      // aggregator evaluates it once they have settled
      const rules = demoAlertRules(opts.durationSeconds);
      const alerts = new AlertMonitor({ redis, mysql, keys: aggregator.keys, rules, owner: 'demo', settleMs: 0, log: () => undefined });
      await alerts.evaluate(minuteStart(Date.now()) + MINUTE_MS);
      await alerts.stop();
      const raised = (await (await fetch(`${apiAddress}/metrics/alerts?status=open&service=${DEMO_SERVICE}`)).json()) as { alerts: Array<{ severity: string; message: string }> };
      out(
        `\nAlerts (rule demo-egress: an endpoint's outbound bandwidth above 50 KiB/s, the ${opts.durationSeconds} s of traffic averaged over the rule's ` +
          `${rules[0]?.windowMinutes ?? 0}-minute window): ${raised.alerts.length} open`,
      );
      for (const a of raised.alerts) out(`  ${a.severity.toUpperCase()}  ${a.message}`);
      const status = await fetch(`${apiAddress}/metrics/status`);
      const daily = await mysql.pool.query(`SELECT unique_users FROM metrics_daily WHERE service = ?`, [DEMO_SERVICE]);
      const uniqueUsers = (daily[0] as Array<{ unique_users: number }>).reduce((m, r) => Math.max(m, r.unique_users), 0);
      out(`Unique users today: ${uniqueUsers} in MySQL, ${traffic.users} sent by the generator (x-user-id header).`);
      const backlog = (await status.json()) as { bufferSize: number; deadLetters: number };
      out(`Stream backlog: ${backlog.bufferSize} entries, ${backlog.deadLetters} dead-lettered.`);
      if (!exact || uniqueUsers !== traffic.users) exitCode = 1;
      out(`\nMySQL: ${redactUrl(mysqlUrl)} (tables metrics_hourly, metrics_daily, metrics_users_hourly, metrics_client_hourly, bandwidth_alerts)`);
      if (!opts.keep) out('The aggregator, the query API and the shop stop now (--keep leaves them running to explore).');
      else {
        out(`The web dashboard is at ${apiAddress}/ and the query API beside it:`);
        out(`  ${apiAddress}/metrics/hourly?hours=1`);
        out(`  ${apiAddress}/metrics/endpoints?hours=1&sort=p95`);
        out(`  ${apiAddress}/metrics/realtime?minutes=5`);
        out(`  ${apiAddress}/metrics/status`);
        out(`  ${apiAddress}/metrics/alerts`);
        out('\nEverything keeps running; the shop is still instrumented. Ctrl-C stops it all.');
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
      }
    } finally {
      // the shop may have exited already (then its 'exit' event has been and gone)
      if (shop.child.exitCode === null && shop.child.signalCode === null) {
        const exited = new Promise((r) => shop.child.once('exit', r));
        shop.child.kill('SIGTERM');
        await exited;
      }
      await api.close();
      await aggregator.stop();
      await mysql.close();
      redis.disconnect();
    }
    return exitCode;
  },
};
