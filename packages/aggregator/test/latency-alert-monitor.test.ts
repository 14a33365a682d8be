/**
 * Latency alerts through the real pipeline's back half: batches with known request durations go
 * into the stream, the aggregator applies them (MariaDB and the realtime view's duration buckets),
 * and the alert monitor opens a p95 alert for the endpoint that got slow, raises its peak, tells a
 * webhook, and resolves it once the endpoint is fast again.
 */
import { Aggregator, AlertMonitor, parseAlertRules, type AlertWebhookPayload } from '@otel-bandwidth/aggregator';
import { MINUTE_MS, encodeBatch, fieldsToArray, minuteStart } from '@otel-bandwidth/core';
import { readRealtime } from '@otel-bandwidth/query-api';
import { createTestDatabase, createTestRedis, webhookReceiver, type TestDatabase, type TestRedis, type WebhookReceiver } from 'test-support';
import { batch, type PointSpec } from './fixtures';

let db: TestDatabase;
let r: TestRedis;
let hook: WebhookReceiver<AlertWebhookPayload>;
beforeAll(async () => {
  db = await createTestDatabase('latency_alerts');
  r = await createTestRedis('latency-alerts');
  hook = await webhookReceiver<AlertWebhookPayload>();
});
afterAll(async () => {
  await hook.close();
  await db.drop();
  await r.cleanup();
});

/** `n` requests of GET <route> that each took `seconds`. */
const requests = (route: string, n: number, seconds: number): PointSpec => ({ route, count: n, durationsS: new Array<number>(n).fill(seconds), inBytes: 0, outBytes: 0 });

describe('latency alerts from the aggregated view', () => {
  it('a slow endpoint opens a p95 alert with the percentile /metrics/realtime would give, and it resolves when fast again', async () => {
    // an hour ago: inside the two hours the realtime view keeps
    const B = minuteStart(Date.now()) - 60 * MINUTE_MS;
    // (minute after B, requests): each its own batch, as successive exports ship them
    const traffic: Array<[number, PointSpec]> = [
      // /slow: half its requests take 600 ms; /fast is fast; /rare is slow but has 10 requests in two minutes
      [0, requests('/slow', 10, 0.09)],
      [0, requests('/slow', 10, 0.6)],
      [0, requests('/fast', 40, 0.004)],
      [0, requests('/rare', 5, 1.2)],
      [1, requests('/slow', 10, 0.09)],
      [1, requests('/slow', 10, 0.6)],
      [1, requests('/fast', 40, 0.004)],
      [1, requests('/rare', 5, 1.2)],
      // /slow slower still
      [2, requests('/slow', 20, 0.7)],
      [2, requests('/fast', 40, 0.004)],
      // then fast again
      [3, requests('/slow', 40, 0.09)],
      [4, requests('/slow', 40, 0.09)],
      [5, requests('/slow', 40, 0.09)],
    ];
    for (const [i, [m, point]] of traffic.entries()) {
      const b = batch(`lat:${i}`, B + m * MINUTE_MS + 10_000, B + m * MINUTE_MS + 15_000, [point], 'lat-shop');
      await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b)));
    }
    const aggregator = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'lat', log: () => undefined });
    await aggregator.drainOnce();
    await aggregator.stop();

    const rules = parseAlertRules(
      JSON.stringify([{ name: 'slow-api', type: 'threshold', metric: 'p95', per: 'endpoint', service: 'lat-shop', windowMinutes: 2, above: 500, severity: 'high', resolveAfterMinutes: 2 }]),
    );
    const monitor = new AlertMonitor({
      redis: r.redis,
      mysql: db.conn,
      keys: r.keys,
      rules,
      owner: 'lat',
      webhookUrl: hook.url('/alerts'),
      log: () => undefined,
    });
    /** a round whose window ends at B + m minutes (30 s to settle) */
    const roundTo = (m: number) => monitor.evaluate(B + m * MINUTE_MS + 45_000);
    const rows = async () =>
      (
        await db.conn.pool.query(
          'SELECT rule, alert_type, metric, service, method, endpoint, metric_value, threshold_value, peak_value, message, resolved_at IS NOT NULL AS resolved FROM bandwidth_alerts ORDER BY id',
        )
      )[0];

    // minutes 0 and 1: /slow has 40 requests, 20 of 90 ms (in (75, 100] ms) and 20 of 600 ms (in
    // (500, 750], narrowed to the slowest, 600): the 95th percentile's rank, 38, is the 18th of
    // those 20: 500 + 100 * 18 / 20 = 590 ms. /fast: 4 ms. /rare: 10 requests, fewer than 20
    expect(await roundTo(2)).toMatchObject({ evaluated: true, opened: 1, resolved: 0, open: 1, notified: 1 });
    // what /metrics/realtime says of the same two minutes
    const api = { redis: r.redis, mysql: db.conn, keys: r.keys, consumerGroup: 'aggregators', bufferWarning: 5000 };
    const view = await readRealtime(api, 2, 'lat-shop', B + MINUTE_MS);
    expect(view.endpoints.map((e) => [e.endpoint, e.totalRequests, e.p95ResponseTime])).toEqual([
      // every /fast request took 4 ms: the estimate is narrowed to it
      ['/fast', 80, 4],
      ['/rare', 10, 1200],
      ['/slow', 40, 590],
    ]);
    const opened = {
      rule: 'slow-api',
      alert_type: 'threshold',
      metric: 'p95',
      service: 'lat-shop',
      method: 'GET',
      endpoint: '/slow',
      metric_value: 590,
      threshold_value: 500,
      message: 'p95 latency of GET /slow (lat-shop) 590 ms over 2 min, above 500 ms (rule slow-api)',
    };
    expect(await rows()).toEqual([{ ...opened, peak_value: 590, resolved: 0 }]);
    expect(hook.received.map((p) => [p.event, p.text, p.alert.metric, p.alert.value, p.alert.threshold])).toEqual([
      ['alert.opened', 'HIGH slow-api: p95 latency of GET /slow (lat-shop) 590 ms over 2 min, above 500 ms (rule slow-api)', 'p95', 590, 500],
    ]);

    // minutes 1 and 2: 10 of 90 ms, 10 of 600 and 20 of 700: rank 38 is the 28th of the 30 in
    // (500, 700]: 500 + 200 * 28 / 30 = 686.667 ms, the peak
    expect(await roundTo(3)).toMatchObject({ evaluated: true, opened: 0, resolved: 0, open: 1 });
    // minutes 2 and 3: 20 of 700 and 40 of 90: rank 57 is the 17th of the 20: 670 ms, still above
    expect(await roundTo(4)).toMatchObject({ evaluated: true, opened: 0, resolved: 0, open: 1 });
    expect(await rows()).toEqual([{ ...opened, peak_value: 686.667, resolved: 0 }]);
    // minutes 3 and 4: every request 90 ms: fast again, for one minute of the two the rule asks
    expect(await roundTo(5)).toMatchObject({ evaluated: true, opened: 0, resolved: 0, open: 1 });
    // and for two: resolved, and the webhook told
    expect(await roundTo(6)).toMatchObject({ evaluated: true, opened: 0, resolved: 1, open: 0, notified: 1 });
    expect(await rows()).toEqual([{ ...opened, peak_value: 686.667, resolved: 1 }]);
    expect(hook.received.map((p) => [p.event, p.alert.peak])).toEqual([
      ['alert.opened', 590],
      ['alert.resolved', 686.667],
    ]);
    await monitor.stop();
  });
});
