import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlertMonitor, parseAlertRules, type AlertWebhookPayload } from '@otel-bandwidth/aggregator';
import { MINUTE_MS, realtimeField, realtimeSeriesCode } from '@otel-bandwidth/core';
import Redis from 'ioredis';
import { closedPort, createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
let hook: { url: string; received: AlertWebhookPayload[]; answer: (p: AlertWebhookPayload) => number; auth: Array<string | undefined>; close(): Promise<void> };

beforeAll(async () => {
  db = await createTestDatabase('alert_monitor');
  r = await createTestRedis('alert-monitor');
  const received: AlertWebhookPayload[] = [];
  const auth: Array<string | undefined> = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const payload = JSON.parse(body) as AlertWebhookPayload;
      const status = hook.answer(payload);
      if (status === 200) received.push(payload);
      auth.push(req.headers.authorization);
      res.statusCode = status;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-token`,
    received,
    answer: () => 200,
    auth,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
});
afterAll(async () => {
  await hook.close();
  await db.drop();
  await r.cleanup();
});

const T = Date.UTC(2026, 11, 5, 12, 0);
/** evaluated at this time, the window ends at T + m minutes (30 s to settle) */
const evaluatedAt = (m: number): number => T + m * MINUTE_MS + 45_000;
const RULES = parseAlertRules(
  JSON.stringify([{ name: 'egress', type: 'threshold', metric: 'outbound', per: 'endpoint', windowMinutes: 2, above: 1000, severity: 'high', resolveAfterMinutes: 2 }]),
);

/** Writes a minute of the realtime view as the aggregator does: outbound bytes of GET <endpoint> in service shop. */
async function traffic(minute: number, endpoint: string, outboundBytes: number, requests = 10): Promise<void> {
  const code = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint, protocol: 'http' });
  const key = r.keys.realtimeMinute(T + minute * MINUTE_MS);
  await r.redis.hincrby(key, realtimeField('outboundBytes', code), outboundBytes);
  await r.redis.hincrby(key, realtimeField('requests', code), requests);
  await r.redis.expire(key, 600);
}

async function alertRows(): Promise<Array<Record<string, unknown>>> {
  const [rows] = await db.conn.pool.query(
    'SELECT id, rule, alert_type, severity, service, method, endpoint, protocol, metric_value, threshold_value, peak_value, message, resolved_at IS NOT NULL AS resolved, open_key IS NOT NULL AS has_open_key, notified, notify_attempts FROM bandwidth_alerts ORDER BY id',
  );
  return rows as Array<Record<string, unknown>>;
}

const logs: string[] = [];
const log = (level: string, message: string): void => void logs.push(`${level} ${message}`);
function monitor(owner: string, redis = r.redis, rules = RULES, webhookUrl = hook.url): AlertMonitor {
  return new AlertMonitor({ redis, mysql: db.conn, keys: r.keys, rules, owner, webhookUrl, webhookTimeoutMs: 2000, log });
}
/** What a round returns, evaluated, with the window's end in minutes after T. */
const round = (windowEndMinute: number, counts: { opened?: number; resolved?: number; open?: number; notified?: number }) => ({
  evaluated: true,
  windowEnd: T + windowEndMinute * MINUTE_MS,
  opened: 0,
  resolved: 0,
  open: 0,
  notified: 0,
  ...counts,
});

describe('AlertMonitor', () => {
  it('opens one alert while a threshold holds, raises its peak, resolves it once quiet for the rule\'s minutes, and tells the webhook of each change once', async () => {
    await traffic(-2, '/big', 150_000);
    await traffic(-1, '/big', 90_000);
    await traffic(-2, '/small', 6000);
    await traffic(-1, '/small', 1000);
    // fields a reader skips, in both minutes: a malformed series, a stat this version does not know
    const big = realtimeSeriesCode({ service: 'shop', method: 'GET', endpoint: '/big', protocol: 'http' });
    for (const m of [-2, -1]) await r.redis.hset(r.keys.realtimeMinute(T + m * MINUTE_MS), 'out|["shop","GET","/big"]', '9000000', `p95|${big}`, '9000000');
    const a = monitor('aggregator-a');
    expect(await a.evaluate(evaluatedAt(0))).toEqual(round(0, { opened: 1, open: 1, notified: 1 }));
    const opened = {
      rule: 'egress',
      alert_type: 'threshold',
      severity: 'high',
      service: 'shop',
      method: 'GET',
      endpoint: '/big',
      protocol: 'http',
      metric_value: 2000,
      threshold_value: 1000,
      peak_value: 2000,
      message: 'outbound bandwidth of GET /big (shop) 1.95 KiB/s over 2 min, above 1000 B/s (rule egress)',
    };
    expect(await alertRows()).toEqual([{ id: 1, ...opened, resolved: 0, has_open_key: 1, notified: 'opened', notify_attempts: 0 }]);
    expect(hook.received).toEqual([
      {
        event: 'alert.opened',
        text: 'HIGH egress: outbound bandwidth of GET /big (shop) 1.95 KiB/s over 2 min, above 1000 B/s (rule egress)',
        alert: {
          id: 1,
          rule: 'egress',
          type: 'threshold',
          severity: 'high',
          metric: 'outbound',
          service: 'shop',
          method: 'GET',
          endpoint: '/big',
          message: opened.message,
          value: 2000,
          threshold: 1000,
          peak: 2000,
          openedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/),
          resolvedAt: null,
        },
      },
    ]);

    // another aggregator: the lease is held, it does nothing
    expect(await monitor('aggregator-b').evaluate(evaluatedAt(0))).toEqual({ evaluated: false, windowEnd: undefined, opened: 0, resolved: 0, open: 0, notified: 0 });

    // a minute later it still holds, higher: the same alert, its peak raised, nobody told again
    await traffic(0, '/big', 180_000);
    expect(await a.evaluate(evaluatedAt(1))).toEqual(round(1, { open: 1 }));
    expect(await alertRows()).toEqual([{ id: 1, ...opened, peak_value: 2250, resolved: 0, has_open_key: 1, notified: 'opened', notify_attempts: 0 }]);
    // 1,500 B/s: it holds, lower (the peak stays)
    expect(await a.evaluate(evaluatedAt(2))).toEqual(round(2, { open: 1 }));
    // quiet for one minute of the two its rule asks: still open
    expect(await a.evaluate(evaluatedAt(3))).toEqual(round(3, { open: 1 }));
    // quiet for two: resolved
    expect(await a.evaluate(evaluatedAt(4))).toEqual(round(4, { resolved: 1, notified: 1 }));
    expect(await alertRows()).toEqual([{ id: 1, ...opened, peak_value: 2250, resolved: 1, has_open_key: 0, notified: 'resolved', notify_attempts: 0 }]);
    expect(hook.received.map((p) => [p.event, p.text, p.alert.peak, p.alert.resolvedAt !== null])).toEqual([
      ['alert.opened', 'HIGH egress: outbound bandwidth of GET /big (shop) 1.95 KiB/s over 2 min, above 1000 B/s (rule egress)', 2000, false],
      ['alert.resolved', 'RESOLVED egress: outbound bandwidth of GET /big (shop) 1.95 KiB/s over 2 min, above 1000 B/s (rule egress)', 2250, true],
    ]);
    // the two minutes of the first window, then the one new minute of each round after
    expect(a.stats()).toMatchObject({ rounds: 5, minutesRead: 6, failedRounds: 0, opened: 1, resolved: 1, notified: 2, failedNotifications: 0 });
    await a.stop();
  });

  it('a rate about its threshold keeps one alert open rather than opening one a minute', async () => {
    const rules = parseAlertRules(JSON.stringify([{ name: 'hover', type: 'threshold', metric: 'outbound', per: 'endpoint', windowMinutes: 1, above: 1000, endpoint: '/hover' }]));
    const a = monitor('aggregator-a', r.redis, rules);
    const rounds = [];
    for (let m = 10; m < 16; m++) {
      await traffic(m, '/hover', m % 2 === 0 ? 60 * 1010 : 60 * 990);
      rounds.push(await a.evaluate(evaluatedAt(m + 1)));
    }
    expect(rounds.map((x) => [x.opened, x.resolved, x.open])).toEqual([
      [1, 0, 1],
      [0, 0, 1],
      [0, 0, 1],
      [0, 0, 1],
      [0, 0, 1],
      [0, 0, 1],
    ]);
    // it last held in the window that ended at 12:15; quiet for three minutes (the default) at 12:18: resolved
    for (const m of [17, 18, 19]) rounds.push(await a.evaluate(evaluatedAt(m)));
    expect(rounds.slice(6).map((x) => [x.opened, x.resolved, x.open])).toEqual([
      [0, 0, 1],
      [0, 1, 0],
      [0, 0, 0],
    ]);
    // fractions kept: 1,010 B/s
    const [row] = (await db.conn.pool.query("SELECT metric_value, peak_value FROM bandwidth_alerts WHERE rule = 'hover'"))[0] as Array<Record<string, number>>;
    expect(row).toEqual({ metric_value: 1010, peak_value: 1010 });
    await a.stop();
  });

  it('waits while the aggregators have not applied the stream: an alert is not resolved for want of data', async () => {
    await traffic(30, '/late', 300_000);
    await traffic(31, '/late', 300_000);
    const a = monitor('aggregator-a');
    expect(await a.evaluate(evaluatedAt(32))).toEqual(round(32, { opened: 1, open: 1, notified: 1 }));
    // an entry added at 12:32:10 waits in the stream: the minutes from 12:31 on may still change,
    // and the view says nothing yet of the minutes the last round did not see
    await r.redis.xadd(r.keys.stream, `${T + 32 * MINUTE_MS + 10_000}-0`, 'v', '1');
    logs.length = 0;
    expect(await a.evaluate(evaluatedAt(45))).toEqual({ evaluated: false, windowEnd: T + 31 * MINUTE_MS, opened: 0, resolved: 0, open: 0, notified: 0 });
    expect(logs).toEqual(['warn the aggregators have not applied the stream\'s entries from 2026-12-05T12:32:10.000Z on: alerts wait for them']);
    expect((await alertRows()).filter((row) => row.endpoint === '/late').map((row) => row.resolved)).toEqual([0]);
    // applied (here: gone): the round goes on, and the quiet alert is resolved
    await r.redis.del(r.keys.stream);
    expect(await a.evaluate(evaluatedAt(45))).toMatchObject({ evaluated: true, windowEnd: T + 45 * MINUTE_MS, resolved: 1 });
    await a.stop();
  });

  it('goes on past an alert the webhook refuses, backs off from a webhook that is down, and gives a refused alert up after 5 refusals', async () => {
    await db.conn.pool.query('DELETE FROM bandwidth_alerts');
    hook.received.length = 0;
    logs.length = 0;
    await traffic(50, '/poison', 300_000);
    await traffic(50, '/fine', 300_000);
    hook.answer = (p) => (p.alert.endpoint === '/poison' ? 400 : 200);
    const a = monitor('aggregator-a');
    expect(await a.evaluate(evaluatedAt(51))).toEqual(round(51, { opened: 2, open: 2, notified: 1 }));
    expect(hook.received.map((p) => [p.event, p.alert.endpoint])).toEqual([['alert.opened', '/fine']]);
    const origin = new URL(hook.url).origin;
    expect(logs).toEqual(['info 2 opened, 0 resolved, 2 open', `warn webhook ${origin}/… refused alert 4 (opened): HTTP 400; tried again in 30 s`]);
    const state = async () => ((await db.conn.pool.query('SELECT endpoint, notified, notify_attempts, next_notify_at IS NOT NULL AS waits FROM bandwidth_alerts ORDER BY id'))[0] as unknown[]);
    expect(await state()).toEqual([
      { endpoint: '/poison', notified: 'none', notify_attempts: 1, waits: 1 },
      { endpoint: '/fine', notified: 'opened', notify_attempts: 0, waits: 0 },
    ]);
    // not before its time
    expect(await a.evaluate(evaluatedAt(51))).toMatchObject({ notified: 0 });
    // its time come, refused a fifth time: given up, and said so
    await db.conn.pool.query("UPDATE bandwidth_alerts SET notify_attempts = 4, next_notify_at = NULL WHERE endpoint = '/poison'");
    logs.length = 0;
    await a.evaluate(evaluatedAt(51));
    expect(logs).toEqual([`error webhook ${origin}/… refused alert 4 (opened) 5 times (HTTP 400): given up`]);
    expect(await state()).toEqual([
      { endpoint: '/poison', notified: 'opened', notify_attempts: 5, waits: 0 },
      { endpoint: '/fine', notified: 'opened', notify_attempts: 0, waits: 0 },
    ]);

    // the webhook down: the round ends at the first failure, the alert waits its backoff
    hook.answer = () => 503;
    logs.length = 0;
    await traffic(52, '/down', 300_000);
    expect(await a.evaluate(evaluatedAt(53))).toMatchObject({ opened: 1, notified: 0 });
    expect(logs).toEqual(['info 1 opened, 2 resolved, 1 open', `warn webhook ${origin}/… failed (HTTP 503): what it has not been told is sent when it answers`]);
    expect(a.stats()).toMatchObject({ failedNotifications: 3 });
    // up again, and the backoff over: told of all it missed, oldest first
    hook.answer = () => 200;
    hook.received.length = 0;
    await db.conn.pool.query('UPDATE bandwidth_alerts SET next_notify_at = NULL');
    await a.evaluate(evaluatedAt(53));
    expect(hook.received.map((p) => [p.event, p.alert.endpoint])).toEqual([
      ['alert.resolved', '/poison'],
      ['alert.resolved', '/fine'],
      ['alert.opened', '/down'],
    ]);
    expect(logs.at(-1)).toBe(`info webhook ${origin}/… answers again`);
    await a.stop();
  });

  it('sends a webhook URL\'s user:password as Basic authentication, and never logs them', async () => {
    await db.conn.pool.query('DELETE FROM bandwidth_alerts');
    hook.auth.length = 0;
    logs.length = 0;
    await traffic(60, '/auth', 300_000);
    const u = new URL(hook.url);
    u.username = 'alerts';
    u.password = 's3cr3t';
    const a = monitor('aggregator-a', r.redis, RULES, u.toString());
    expect(await a.evaluate(evaluatedAt(61))).toMatchObject({ opened: 1, notified: 1 });
    expect(hook.auth).toEqual([`Basic ${Buffer.from('alerts:s3cr3t').toString('base64')}`]);
    hook.answer = () => 500;
    await traffic(62, '/auth2', 300_000);
    await a.evaluate(evaluatedAt(63));
    hook.answer = () => 200;
    expect(logs.join('\n')).not.toContain('s3cr3t');
    expect(logs.at(-1)).toBe(`warn webhook ${u.origin}/… failed (HTTP 500): what it has not been told is sent when it answers`);
    await a.stop();
  });

  it('leaves alerts as they are when Redis fails, and resolves those of a rule that is gone', async () => {
    await db.conn.pool.query('DELETE FROM bandwidth_alerts');
    await traffic(70, '/kept', 300_000);
    await monitor('aggregator-a').evaluate(evaluatedAt(71)).then(() => r.redis.del(r.keys.alertLease));
    logs.length = 0;
    const port = await closedPort();
    const down = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    const broken = monitor('aggregator-c', down);
    expect(await broken.runRound(evaluatedAt(90))).toBeUndefined();
    expect(broken.stats()).toMatchObject({ rounds: 0, failedRounds: 1, lastError: expect.stringMatching(/Stream isn't writeable|Connection is closed|ECONNREFUSED/) });
    expect(logs).toEqual([`warn round skipped, alerts left as they were: ${broken.stats().lastError ?? ''}`]);
    expect((await alertRows()).map((row) => [row.endpoint, row.resolved])).toEqual([['/kept', 0]]);
    down.disconnect();

    const rules = parseAlertRules(JSON.stringify([{ name: 'calls', type: 'threshold', metric: 'requests', per: 'all', windowMinutes: 1, above: 1000 }]));
    const b = monitor('aggregator-b', r.redis, rules);
    expect(await b.evaluate(evaluatedAt(71))).toMatchObject({ evaluated: true, opened: 0, resolved: 1, open: 0 });
    expect((await alertRows()).map((row) => [row.endpoint, row.resolved])).toEqual([['/kept', 1]]);
    // a clean stop gives the lease up: another takes over at its next round
    await b.stop();
    expect(await r.redis.exists(r.keys.alertLease)).toBe(0);
  });

  it('a stop cuts off a webhook call in flight rather than waiting for it', async () => {
    await db.conn.pool.query('DELETE FROM bandwidth_alerts');
    await r.redis.del(r.keys.alertLease);
    const hanging = http.createServer(() => undefined);
    await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
    await traffic(80, '/slow', 300_000);
    const a = new AlertMonitor({ redis: r.redis, mysql: db.conn, keys: r.keys, rules: RULES, owner: 'aggregator-s', webhookUrl: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/`, webhookTimeoutMs: 60_000, log });
    let posted!: () => void;
    const called = new Promise<void>((resolve) => (posted = resolve));
    hanging.on('request', () => posted());
    const roundDone = a.evaluate(evaluatedAt(81));
    await called;
    // the call hangs (60 s timeout): stop() ends it, and the round with it
    await a.stop();
    expect(await roundDone).toMatchObject({ opened: 1, notified: 0 });
    expect((await alertRows()).map((row) => [row.endpoint, row.notified])).toEqual([['/slow', 'none']]);
    hanging.closeAllConnections();
    hanging.close();
  });
});
