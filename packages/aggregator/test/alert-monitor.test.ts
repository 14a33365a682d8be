import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlertMonitor, parseAlertRules, type AlertWebhookPayload } from '@otel-bandwidth/aggregator';
import { MINUTE_MS, realtimeField, realtimeSeriesCode } from '@otel-bandwidth/core';
import Redis from 'ioredis';
import { closedPort, createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
let hook: { url: string; received: AlertWebhookPayload[]; answer: number; close(): Promise<void> };

beforeAll(async () => {
  db = await createTestDatabase('alert_monitor');
  r = await createTestRedis('alert-monitor');
  const received: AlertWebhookPayload[] = [];
  const state = { answer: 200 };
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (state.answer === 200) received.push(JSON.parse(body) as AlertWebhookPayload);
      res.statusCode = state.answer;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  hook = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/secret-token`,
    received,
    get answer() {
      return state.answer;
    },
    set answer(v: number) {
      state.answer = v;
    },
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
  JSON.stringify([{ name: 'egress', type: 'threshold', metric: 'outbound', per: 'endpoint', windowMinutes: 2, above: 1000, severity: 'high' }]),
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
    'SELECT id, rule, alert_type, severity, service, method, endpoint, protocol, metric_value, threshold_value, peak_value, message, resolved_at IS NOT NULL AS resolved, open_key IS NOT NULL AS has_open_key, notified FROM bandwidth_alerts ORDER BY id',
  );
  return rows as Array<Record<string, unknown>>;
}

const logs: string[] = [];
const log = (level: string, message: string): void => void logs.push(`${level} ${message}`);
function monitor(owner: string, redis = r.redis, rules = RULES): AlertMonitor {
  return new AlertMonitor({ redis, mysql: db.conn, keys: r.keys, rules, owner, webhookUrl: hook.url, webhookTimeoutMs: 2000, log });
}

describe('AlertMonitor', () => {
  it('opens one alert while a threshold holds, raises its peak, resolves it, and tells the webhook of each change once', async () => {
    await traffic(-2, '/big', 150_000);
    await traffic(-1, '/big', 90_000);
    await traffic(-2, '/small', 6000);
    await traffic(-1, '/small', 1000);
    const a = monitor('aggregator-a');
    expect(await a.evaluate(evaluatedAt(0))).toEqual({ evaluated: true, opened: 1, resolved: 0, open: 1, notified: 1 });
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
    expect(await alertRows()).toEqual([{ id: 1, ...opened, resolved: 0, has_open_key: 1, notified: 'opened' }]);
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
    expect(await monitor('aggregator-b').evaluate(evaluatedAt(0))).toEqual({ evaluated: false, opened: 0, resolved: 0, open: 0, notified: 0 });

    // a minute later it still holds, higher: the same alert, its peak raised, nobody told again
    await traffic(0, '/big', 180_000);
    expect(await a.evaluate(evaluatedAt(1))).toEqual({ evaluated: true, opened: 0, resolved: 0, open: 1, notified: 0 });
    expect(await alertRows()).toEqual([{ id: 1, ...opened, peak_value: 2250, resolved: 0, has_open_key: 1, notified: 'opened' }]);

    // two minutes without traffic to /big: resolved
    expect(await a.evaluate(evaluatedAt(3))).toEqual({ evaluated: true, opened: 0, resolved: 1, open: 0, notified: 1 });
    expect(await alertRows()).toEqual([{ id: 1, ...opened, peak_value: 2250, resolved: 1, has_open_key: 0, notified: 'resolved' }]);
    expect(hook.received.map((p) => [p.event, p.text, p.alert.peak, p.alert.resolvedAt !== null])).toEqual([
      ['alert.opened', 'HIGH egress: outbound bandwidth of GET /big (shop) 1.95 KiB/s over 2 min, above 1000 B/s (rule egress)', 2000, false],
      ['alert.resolved', 'RESOLVED egress: outbound bandwidth of GET /big (shop) 1.95 KiB/s over 2 min, above 1000 B/s (rule egress)', 2250, true],
    ]);
    expect(a.stats()).toMatchObject({ rounds: 3, failedRounds: 0, opened: 1, resolved: 1, notified: 2, failedNotifications: 0 });
    await a.stop();
  });

  it('keeps an alert the webhook refused for the next round, and tells it then', async () => {
    hook.received.length = 0;
    logs.length = 0;
    await traffic(4, '/big', 300_000);
    await traffic(5, '/big', 300_000);
    hook.answer = 503;
    const a = monitor('aggregator-a');
    expect(await a.evaluate(evaluatedAt(6))).toEqual({ evaluated: true, opened: 1, resolved: 0, open: 1, notified: 0 });
    expect((await alertRows()).map((row) => [row.id, row.metric_value, row.notified])).toEqual([
      [1, 2000, 'resolved'],
      [2, 5000, 'none'],
    ]);
    // the webhook's URL may hold a secret: only its origin is logged
    expect(logs).toEqual([
      'info 1 opened, 0 resolved, 1 open',
      `warn webhook ${new URL(hook.url).origin}/… failed (HTTP 503); told of 0 this round, the rest is sent next round`,
    ]);
    hook.answer = 200;
    expect(await a.evaluate(evaluatedAt(6))).toEqual({ evaluated: true, opened: 0, resolved: 0, open: 1, notified: 1 });
    expect(hook.received.map((p) => [p.event, p.alert.id, p.alert.value])).toEqual([['alert.opened', 2, 5000]]);
    expect(a.stats()).toMatchObject({ notified: 1, failedNotifications: 1 });
    await a.stop();
  });

  it('leaves alerts as they are when Redis fails, and resolves those of a rule that is gone', async () => {
    logs.length = 0;
    const port = await closedPort();
    const down = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, retryStrategy: () => null });
    const broken = monitor('aggregator-c', down);
    expect(await broken.runRound(evaluatedAt(20))).toBeUndefined();
    expect(broken.stats()).toMatchObject({ rounds: 0, failedRounds: 1, lastError: expect.stringMatching(/Stream isn't writeable|Connection is closed|ECONNREFUSED/) });
    expect(logs).toEqual([`warn round skipped, alerts left as they were: ${broken.stats().lastError ?? ''}`]);
    expect((await alertRows()).map((row) => [row.id, row.resolved])).toEqual([
      [1, 1],
      [2, 0],
    ]);
    down.disconnect();

    // the lease of a monitor that stopped is given up: another takes over at once
    const rules = parseAlertRules(JSON.stringify([{ name: 'calls', type: 'threshold', metric: 'requests', per: 'all', windowMinutes: 1, above: 1000 }]));
    const b = monitor('aggregator-b', r.redis, rules);
    expect(await b.evaluate(evaluatedAt(6))).toEqual({ evaluated: true, opened: 0, resolved: 1, open: 0, notified: 1 });
    expect((await alertRows()).map((row) => [row.id, row.resolved, row.notified])).toEqual([
      [1, 1, 'resolved'],
      [2, 1, 'resolved'],
    ]);
    expect(hook.received.map((p) => [p.event, p.alert.id])).toEqual([
      ['alert.opened', 2],
      ['alert.resolved', 2],
    ]);
    await b.stop();
    expect(await r.redis.exists(r.keys.alertLease)).toBe(0);
  });
});
