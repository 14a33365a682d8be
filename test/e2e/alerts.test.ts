/**
 * Alerts from real traffic: a server under the preload serves known responses, the exporter ships
 * them, the aggregator applies them and writes the realtime view, and the alert monitor raises an
 * alert from that view with the rate the client's own count gives, and posts it to a webhook.
 */
import path from 'node:path';
import { Aggregator, AlertMonitor, parseAlertRules, type AlertWebhookPayload } from '@otel-bandwidth/aggregator';
import { createTestDatabase, createTestRedis, request, startInstrumented, stopAllInstrumented, webhookReceiver, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('e2e_alerts');
  r = await createTestRedis('e2e-alerts');
});
afterAll(async () => {
  await stopAllInstrumented();
  await db.drop();
  await r.cleanup();
});

describe('alerts end to end', () => {
  it('real traffic over a threshold opens one alert, with the rate the client counted, and the webhook is told', async () => {
    const hook = await webhookReceiver<AlertWebhookPayload>();
    const received = hook.received;

    const server = await startInstrumented(path.join(__dirname, 'fixtures', 'plain-server.js'), {
      OTEL_SERVICE_NAME: 'e2e-alerts',
      OTEL_BANDWIDTH_KEY_PREFIX: r.prefix,
    });
    let reportBytes = 0;
    for (let i = 0; i < 40; i++) reportBytes += (await request(server.port, 'GET', '/reports')).received;
    let healthBytes = 0;
    for (let i = 0; i < 40; i++) healthBytes += (await request(server.port, 'GET', '/health')).received;
    expect([reportBytes, healthBytes]).toEqual([40 * 3256, 40 * 2]);
    expect(await server.stop()).toBe(null);

    const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'e2e', log: () => undefined });
    await aggregator.drainOnce();
    await aggregator.stop();

    const rules = parseAlertRules(
      JSON.stringify([{ name: 'report-egress', type: 'threshold', metric: 'outbound', per: 'endpoint', windowMinutes: 2, above: 1000, service: 'e2e-alerts', severity: 'high' }]),
    );
    const monitor = new AlertMonitor({
      redis: r.redis,
      mysql: db.conn,
      keys: aggregator.keys,
      rules,
      owner: 'e2e',
      settleMs: 0,
      webhookUrl: hook.url('/alerts'),
      log: () => undefined,
    });
    // a minute from now with nothing to settle: the window is this minute and the one before,
    // which hold all of the traffic above
    expect(await monitor.evaluate(Date.now() + 60_000)).toMatchObject({ evaluated: true, opened: 1, resolved: 0, open: 1, notified: 1 });
    await monitor.stop();
    await hook.close();

    // bytes a second, fractions kept
    const rate = (40 * 3256) / 120;
    expect(rate.toFixed(3)).toBe('1085.333');
    const [rows] = await db.conn.pool.query('SELECT rule, service, method, endpoint, metric_value, threshold_value, message FROM bandwidth_alerts');
    expect(rows).toEqual([
      {
        rule: 'report-egress',
        service: 'e2e-alerts',
        method: 'GET',
        endpoint: '/reports',
        metric_value: rate,
        threshold_value: 1000,
        message: 'outbound bandwidth of GET /reports (e2e-alerts) 1.06 KiB/s over 2 min, above 1000 B/s (rule report-egress)',
      },
    ]);
    expect(received.map((p) => [p.event, p.alert.endpoint, p.alert.value])).toEqual([['alert.opened', '/reports', rate]]);
  });
});
