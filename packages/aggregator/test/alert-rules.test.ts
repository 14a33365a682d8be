import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { alertKey, evaluateAlertRules, formatRate, loadAlertRules, parseAlertRules, readAggregatorConfig, type MinuteSeriesTotals } from '@otel-bandwidth/aggregator';
import { ConfigError, MINUTE_MS } from '@otel-bandwidth/core';

const T = Date.UTC(2026, 11, 5, 12, 0);
const at = (minutesBefore: number): number => T - minutesBefore * MINUTE_MS;
function series(service: string, method: string, endpoint: string, n: Partial<MinuteSeriesTotals>): MinuteSeriesTotals {
  return { service, method, endpoint, protocol: 'http', requests: 0, inboundBytes: 0, outboundBytes: 0, errors: 0, ...n };
}

describe('parseAlertRules', () => {
  it('reads the three kinds with their defaults', () => {
    const rules = parseAlertRules(
      JSON.stringify([
        { name: 'egress', type: 'threshold', metric: 'outbound', per: 'endpoint', above: 1000 },
        { name: 'surge', type: 'spike', metric: 'bandwidth', per: 'service', factor: 3, service: 'shop' },
        { name: 'odd', type: 'anomaly', metric: 'requests', per: 'all', windowMinutes: 1, severity: 'critical' },
      ]),
    );
    expect(rules).toEqual([
      { name: 'egress', type: 'threshold', metric: 'outbound', per: 'endpoint', windowMinutes: 5, severity: 'medium', resolveAfterMinutes: 3, above: 1000 },
      { name: 'surge', type: 'spike', metric: 'bandwidth', per: 'service', windowMinutes: 5, severity: 'medium', resolveAfterMinutes: 3, service: 'shop', factor: 3, baselineMinutes: 30, minimum: 0 },
      { name: 'odd', type: 'anomaly', metric: 'requests', per: 'all', windowMinutes: 1, severity: 'critical', resolveAfterMinutes: 3, deviations: 3, baselineMinutes: 60, minimum: 0 },
    ]);
  });

  it('names every mistake, by rule and field', () => {
    const bad = JSON.stringify([
      { name: 'a', type: 'threshold', metric: 'bytes', per: 'endpoint', above: -1, windowMinutes: 1.5 },
      { name: 'a', type: 'spike', metric: 'bandwidth', per: 'route', factor: 1, baselineMinutes: 60, windowMinutes: 60 },
      { type: 'anomaly', metric: 'requests', per: 'all', severity: 'huge', deviatons: 2 },
      'x',
      // a type it does not know: that is the mistake, not the fields of some other type
      { name: 'b', type: 'spikes', metric: 'bandwidth', per: 'all', factor: 2 },
    ]);
    expect(() => parseAlertRules(bad, 'rules.json')).toThrow(
      [
        'rules.json:',
        '  - rule 1 ("a"): "metric" is "bytes": must be one of bandwidth, inbound, outbound, requests, errors, p50, p95, p99',
        '  - rule 1 ("a"): "windowMinutes" is 1.5: must be a whole number at least 1 and at most 60',
        '  - rule 1 ("a"): "above" is -1: must be a number at least 0',
        '  - rule 2 ("a"): "name" is used by an earlier rule',
        '  - rule 2 ("a"): "per" is "route": must be one of endpoint, service, all',
        '  - rule 2 ("a"): "windowMinutes" + "baselineMinutes" is 120: must be at most 100 (the realtime view keeps two hours)',
        '  - rule 2 ("a"): "factor" is 1: must be a number above 1',
        '  - rule 3: "name" must be a string of 1 to 128 characters',
        '  - rule 3: "deviatons" is not a field of an anomaly rule (name, type, metric, per, windowMinutes, severity, service, endpoint, resolveAfterMinutes, deviations, baselineMinutes, minimum)',
        '  - rule 3: "severity" is "huge": must be one of low, medium, high, critical',
        '  - rule 4: must be an object',
        '  - rule 5 ("b"): "type" is "spikes": must be one of threshold, spike, anomaly',
      ].join('\n'),
    );
    expect(() => parseAlertRules('{"name":"x"}')).toThrow('alert rules: must be a JSON array of rules');
    expect(() => parseAlertRules('[{')).toThrow(/^alert rules: not JSON \(/);
  });

  it('loads OTEL_BANDWIDTH_ALERT_RULES inline or from a file, and says when the file cannot be read', () => {
    expect(loadAlertRules(' [{"name":"t","type":"threshold","metric":"errors","per":"all","above":1}] ')).toHaveLength(1);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'obw-rules-'));
    const file = path.join(dir, 'rules.json');
    fs.writeFileSync(file, '[{"name":"t","type":"threshold","metric":"errors","per":"all","above":"1"}]');
    expect(() => loadAlertRules(file)).toThrow(`OTEL_BANDWIDTH_ALERT_RULES="${file}":\n  - rule 1 ("t"): "above" is "1": must be a number at least 0`);
    expect(() => loadAlertRules(path.join(dir, 'missing.json'))).toThrow(
      `OTEL_BANDWIDTH_ALERT_RULES="${path.join(dir, 'missing.json')}": cannot read the file (ENOENT); give a JSON file's path or the JSON itself`,
    );
    fs.rmSync(dir, { recursive: true });
  });

  it('the example rules docker-compose.yml gives the aggregator are valid', () => {
    const rules = loadAlertRules(path.join(__dirname, '..', '..', '..', 'examples', 'alert-rules.json'));
    expect(rules.map((r) => [r.name, r.type, r.metric, r.per])).toEqual([
      ['endpoint-egress', 'threshold', 'outbound', 'endpoint'],
      ['service-surge', 'spike', 'bandwidth', 'service'],
      ['unusual-errors', 'anomaly', 'errors', 'service'],
      ['slow-endpoint', 'threshold', 'p95', 'endpoint'],
      ['latency-surge', 'spike', 'p99', 'service'],
    ]);
  });
});

describe('the aggregator configuration of alerts', () => {
  it('reads the rules, the webhook and the timings; without rules there are none', () => {
    expect(readAggregatorConfig({})).toMatchObject({ alertRules: [], alertWebhookUrl: undefined, alertIntervalMs: 30_000, alertSettleMs: 30_000 });
    const config = readAggregatorConfig({
      OTEL_BANDWIDTH_ALERT_RULES: '[{"name":"t","type":"threshold","metric":"bandwidth","per":"service","above":5e6}]',
      OTEL_BANDWIDTH_ALERT_WEBHOOK_URL: 'https://hooks.example.com/T000/B000/x',
      OTEL_BANDWIDTH_ALERT_INTERVAL: '10000',
      OTEL_BANDWIDTH_ALERT_SETTLE: '0',
    });
    expect(config).toMatchObject({ alertWebhookUrl: 'https://hooks.example.com/T000/B000/x', alertIntervalMs: 10_000, alertSettleMs: 0 });
    expect(config.alertRules.map((r) => [r.name, r.type, r.per])).toEqual([['t', 'threshold', 'service']]);
  });

  it('names every problem at start', () => {
    let problems: readonly string[] = [];
    try {
      readAggregatorConfig({ OTEL_BANDWIDTH_ALERT_RULES: '[{"name":"t","type":"threshold"}]', OTEL_BANDWIDTH_ALERT_WEBHOOK_URL: 'ftp://x', OTEL_BANDWIDTH_ALERT_INTERVAL: '5' });
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      problems = (err as ConfigError).problems;
    }
    expect(problems).toEqual([
      'OTEL_BANDWIDTH_ALERT_INTERVAL=5 is out of range (expected 1000 to 3600000)',
      [
        'OTEL_BANDWIDTH_ALERT_RULES:',
        '      - rule 1 ("t"): "metric" is missing: must be one of bandwidth, inbound, outbound, requests, errors, p50, p95, p99',
        '      - rule 1 ("t"): "per" is missing: must be one of endpoint, service, all',
        '      - rule 1 ("t"): "above" is missing: must be a number at least 0',
      ].join('\n'),
      'OTEL_BANDWIDTH_ALERT_WEBHOOK_URL="ftp://x" has scheme "ftp:", expected http: or https:',
    ]);
    expect(() => readAggregatorConfig({ OTEL_BANDWIDTH_ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' })).toThrow(
      'OTEL_BANDWIDTH_ALERT_WEBHOOK_URL is set but OTEL_BANDWIDTH_ALERT_RULES is not: no alert would ever be sent',
    );
    expect(() => readAggregatorConfig({ OTEL_BANDWIDTH_ALERT_RULES: '[]', OTEL_BANDWIDTH_ALERT_WEBHOOK_URL: 'https://hooks.example.com/x' })).toThrow(
      'OTEL_BANDWIDTH_ALERT_WEBHOOK_URL is set but OTEL_BANDWIDTH_ALERT_RULES holds no rule: no alert would ever be sent',
    );
  });
});

describe('evaluateAlertRules', () => {
  it('threshold per endpoint: the window of whole minutes before its end, nothing after', () => {
    const [rule] = parseAlertRules(JSON.stringify([{ name: 'egress', type: 'threshold', metric: 'outbound', per: 'endpoint', windowMinutes: 2, above: 1000, severity: 'high' }]));
    const minutes = new Map([
      [at(3), [series('shop', 'GET', '/big', { outboundBytes: 9_000_000 })]], // before the window
      [at(2), [series('shop', 'GET', '/big', { outboundBytes: 150_000 }), series('shop', 'GET', '/small', { outboundBytes: 6000 })]],
      [at(1), [series('shop', 'GET', '/big', { outboundBytes: 90_000 }), series('shop', 'GET', '/small', { outboundBytes: 1000 })]],
      [at(0), [series('shop', 'GET', '/big', { outboundBytes: 9_000_000 })]], // not settled: after the window
    ]);
    const held = evaluateAlertRules([rule!], minutes, T);
    expect(held).toEqual([
      {
        rule,
        key: alertKey('egress', 'shop', 'GET', '/big'),
        service: 'shop',
        method: 'GET',
        endpoint: '/big',
        protocol: 'http',
        value: 2000,
        threshold: 1000,
        message: 'outbound bandwidth of GET /big (shop) 1.95 KiB/s over 2 min, above 1000 B/s (rule egress)',
      },
    ]);
  });

  it('spike per service against the average of the minutes before the window, above its minimum', () => {
    const [rule] = parseAlertRules(JSON.stringify([{ name: 'surge', type: 'spike', metric: 'bandwidth', per: 'service', windowMinutes: 1, baselineMinutes: 4, factor: 3, minimum: 100 }]));
    const minutes = new Map<number, MinuteSeriesTotals[]>();
    for (const m of [5, 4, 3, 2]) minutes.set(at(m), [series('shop', 'GET', '/a', { outboundBytes: 5000 }), series('shop', 'POST', '/b', { inboundBytes: 1000 })]);
    minutes.set(at(1), [series('shop', 'GET', '/a', { outboundBytes: 30_000 }), series('shop', 'POST', '/b', { inboundBytes: 6000 }), series('quiet', 'GET', '/', { outboundBytes: 3000 })]);
    const held = evaluateAlertRules([rule!], minutes, T);
    expect(held.map(({ rule: _, ...c }) => c)).toEqual([
      {
        key: alertKey('surge', 'shop', null, null),
        service: 'shop',
        method: null,
        endpoint: null,
        protocol: null,
        value: 600,
        threshold: 300,
        message: 'bandwidth of service shop 600 B/s over 1 min, 6x its 4-min average of 100 B/s (rule surge: 3x)',
      },
    ]);
    // "quiet" went from nothing to 50 B/s: under the rule's minimum of 100
    expect(evaluateAlertRules([{ ...rule!, minimum: 50 } as typeof rule & object], minutes, T).map((c) => [c.service, c.message])).toEqual([
      ['shop', 'bandwidth of service shop 600 B/s over 1 min, 6x its 4-min average of 100 B/s (rule surge: 3x)'],
      ['quiet', 'bandwidth of service quiet 50 B/s over 1 min, up from nothing against its 4-min average of 0 B/s (rule surge: 3x)'],
    ]);
  });

  it('anomaly over all traffic: standard deviations of the per-minute rates, minutes without traffic included', () => {
    const [rule] = parseAlertRules(JSON.stringify([{ name: 'odd', type: 'anomaly', metric: 'requests', per: 'all', windowMinutes: 1, baselineMinutes: 4, deviations: 2 }]));
    const minutes = new Map([
      [at(5), [series('a', 'GET', '/', { requests: 60 })]],
      [at(4), [series('a', 'GET', '/', { requests: 60 }), series('b', 'GET', '/', { requests: 60 })]],
      [at(3), [series('b', 'GET', '/', { requests: 60 })]],
      [at(2), [series('a', 'GET', '/', { requests: 120 })]],
      [at(1), [series('a', 'GET', '/', { requests: 200 }), series('b', 'GET', '/', { requests: 100 })]],
    ]);
    const [c] = evaluateAlertRules([rule!], minutes, T);
    expect(c).toMatchObject({ service: null, method: null, endpoint: null, value: 5, threshold: 2.5 });
    expect(c?.message).toBe('request rate of all traffic 5 requests/s over 1 min, 7 standard deviations above its 4-min mean of 1.5 requests/s (rule odd: 2)');
    // 2.5 requests/s is not above mean + 2 deviations
    minutes.set(at(1), [series('a', 'GET', '/', { requests: 150 })]);
    expect(evaluateAlertRules([rule!], minutes, T)).toEqual([]);
    // a missing minute is a minute without traffic: the baseline 1, 0, 1, 2 has mean 1 and deviation 0.71
    minutes.delete(at(4));
    expect(evaluateAlertRules([rule!], minutes, T).map((x) => [x.value, Math.round(x.threshold * 1000) / 1000])).toEqual([[2.5, 2.414]]);
  });

  it('filters by service and endpoint, and errors count errors', () => {
    const [rule] = parseAlertRules(JSON.stringify([{ name: 'fail', type: 'threshold', metric: 'errors', per: 'endpoint', windowMinutes: 1, above: 0.5, service: 'shop', endpoint: '/pay' }]));
    const minutes = new Map([[at(1), [series('shop', 'POST', '/pay', { errors: 60 }), series('shop', 'POST', '/other', { errors: 600 }), series('bank', 'POST', '/pay', { errors: 600 })]]]);
    expect(evaluateAlertRules([rule!], minutes, T).map((c) => c.message)).toEqual(['error rate of POST /pay (shop) 1 errors/s over 1 min, above 0.5 errors/s (rule fail)']);
  });

  it('formats rates in binary units', () => {
    expect([0, 1023, 1024, 1_572_864, 5 * 1024 ** 3, 3 * 1024 ** 5].map((n) => formatRate('bandwidth', n))).toEqual([
      '0 B/s',
      '1023 B/s',
      '1 KiB/s',
      '1.5 MiB/s',
      '5 GiB/s',
      '3072 TiB/s',
    ]);
  });
});
