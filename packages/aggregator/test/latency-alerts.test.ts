import { alertKey, evaluateAlertRules, formatAlertValue, formatLatency, parseAlertRules, type MinuteSeriesTotals, type SpikeRule, type ThresholdRule } from '@otel-bandwidth/aggregator';
import { DURATION_BOUNDARIES_MS, MINUTE_MS, REALTIME_DURATION_BUCKETS } from '@otel-bandwidth/core';

const T = Date.UTC(2026, 11, 5, 12, 0);
const at = (minutesBefore: number): number => T - minutesBefore * MINUTE_MS;

/**
 * A series' minute with duration buckets: requests per bucket index (DURATION_BOUNDARIES_MS: 6 is
 * (5, 10] ms, 8 (25, 50], 9 (50, 75], 10 (75, 100], 11 (100, 250], 12 (250, 500], 13 (500, 750],
 * 15 (1000, 2500]), and the fastest and slowest request.
 */
function timed(endpoint: string, buckets: Record<number, number>, minMs: number, maxMs: number, service = 'shop', method = 'GET'): MinuteSeriesTotals {
  const durationBuckets = new Array<number>(REALTIME_DURATION_BUCKETS).fill(0);
  let requests = 0;
  for (const [i, n] of Object.entries(buckets)) {
    durationBuckets[Number(i)] = n;
    requests += n;
  }
  return { service, method, endpoint, protocol: 'http', requests, inboundBytes: 0, outboundBytes: 0, errors: 0, durationBuckets, minDurationMs: minMs, maxDurationMs: maxMs };
}

/** A series' minute as an aggregator older than the duration buckets wrote it: requests and the slowest, no buckets. */
function untimed(endpoint: string, requests: number, maxMs: number): MinuteSeriesTotals {
  return { service: 'shop', method: 'GET', endpoint, protocol: 'http', requests, inboundBytes: 0, outboundBytes: 0, errors: 0, maxDurationMs: maxMs };
}

function thresholdRule(r: Record<string, unknown>): ThresholdRule {
  const [parsed] = parseAlertRules(JSON.stringify([{ ...r, type: 'threshold' }]));
  if (parsed?.type !== 'threshold') throw new Error('not a threshold rule');
  return parsed;
}
function spikeRule(r: Record<string, unknown>): SpikeRule {
  const [parsed] = parseAlertRules(JSON.stringify([{ ...r, type: 'spike' }]));
  if (parsed?.type !== 'spike') throw new Error('not a spike rule');
  return parsed;
}

describe('latency rules', () => {
  it('the bucket indexes the tests name are the storage buckets', () => {
    expect([6, 8, 9, 10, 11, 12, 13, 15].map((i) => [DURATION_BOUNDARIES_MS[i - 1], DURATION_BOUNDARIES_MS[i]])).toEqual([
      [5, 10],
      [25, 50],
      [50, 75],
      [75, 100],
      [100, 250],
      [250, 500],
      [500, 750],
      [1000, 2500],
    ]);
  });

  it('read with minRequests, 20 unless given; rates take none', () => {
    const rules = parseAlertRules(
      JSON.stringify([
        { name: 'slow', type: 'threshold', metric: 'p95', per: 'endpoint', above: 500 },
        { name: 'slower', type: 'spike', metric: 'p99', per: 'service', factor: 2, minimum: 250, minRequests: 100 },
        { name: 'egress', type: 'threshold', metric: 'outbound', per: 'endpoint', above: 1000 },
      ]),
    );
    expect(rules).toEqual([
      { name: 'slow', type: 'threshold', metric: 'p95', per: 'endpoint', windowMinutes: 5, severity: 'medium', resolveAfterMinutes: 3, above: 500, minRequests: 20 },
      { name: 'slower', type: 'spike', metric: 'p99', per: 'service', windowMinutes: 5, severity: 'medium', resolveAfterMinutes: 3, factor: 2, baselineMinutes: 30, minimum: 250, minRequests: 100 },
      { name: 'egress', type: 'threshold', metric: 'outbound', per: 'endpoint', windowMinutes: 5, severity: 'medium', resolveAfterMinutes: 3, above: 1000 },
    ]);
  });

  it('names every mistake of a latency rule: anomaly, minRequests on a rate or out of range', () => {
    const bad = JSON.stringify([
      { name: 'odd-latency', type: 'anomaly', metric: 'p95', per: 'endpoint', deviations: 3 },
      { name: 'counted', type: 'threshold', metric: 'requests', per: 'all', above: 10, minRequests: 20 },
      { name: 'surge', type: 'spike', metric: 'bandwidth', per: 'service', factor: 2, minRequests: 5 },
      { name: 'zero', type: 'threshold', metric: 'p50', per: 'endpoint', above: 100, minRequests: 0 },
      { name: 'half', type: 'spike', metric: 'p99', per: 'endpoint', factor: 2, minRequests: 2.5 },
      { name: 'text', type: 'threshold', metric: 'p95', per: 'endpoint', above: 100, minRequests: '20' },
      { name: 'anomaly-count', type: 'anomaly', metric: 'errors', per: 'all', minRequests: 20 },
      // a metric it does not know: that is the mistake, not minRequests
      { name: 'typo', type: 'threshold', metric: 'p90', per: 'endpoint', above: 100, minRequests: 20 },
    ]);
    expect(() => parseAlertRules(bad, 'rules.json')).toThrow(
      [
        'rules.json:',
        '  - rule 1 ("odd-latency"): "metric" is "p95": an anomaly rule watches a rate (bandwidth, inbound, outbound, requests, errors), not a latency; watch a latency with a threshold or spike rule',
        '  - rule 2 ("counted"): "minRequests" is a field of latency rules only (metric p50, p95, p99), not of a "requests" rule: a rate counts every request',
        '  - rule 3 ("surge"): "minRequests" is a field of latency rules only (metric p50, p95, p99), not of a "bandwidth" rule: a rate counts every request',
        '  - rule 4 ("zero"): "minRequests" is 0: must be a whole number at least 1',
        '  - rule 5 ("half"): "minRequests" is 2.5: must be a whole number at least 1',
        '  - rule 6 ("text"): "minRequests" is "20": must be a whole number at least 1',
        '  - rule 7 ("anomaly-count"): "minRequests" is not a field of an anomaly rule (name, type, metric, per, windowMinutes, severity, service, endpoint, resolveAfterMinutes, deviations, baselineMinutes, minimum)',
        '  - rule 8 ("typo"): "metric" is "p90": must be one of bandwidth, inbound, outbound, requests, errors, p50, p95, p99',
      ].join('\n'),
    );
  });

  it('formats latencies in ms', () => {
    expect([0, 0.1234, 93.333, 660, 1960.005].map(formatLatency)).toEqual(['0 ms', '0.12 ms', '93.33 ms', '660 ms', '1960.01 ms']);
    expect([formatAlertValue('p99', 812.5), formatAlertValue('outbound', 2048)]).toEqual(['812.5 ms', '2 KiB/s']);
  });
});

describe('evaluating latency rules', () => {
  it('threshold per endpoint: the percentile of the window\'s buckets together, narrowed to its fastest and slowest request', () => {
    const slow = thresholdRule({ name: 'slow', metric: 'p95', per: 'endpoint', windowMinutes: 2, above: 500, severity: 'high' });
    const minutes = new Map([
      [at(3), [timed('/x', { 15: 100 }, 1500, 2400)]], // before the window
      [at(2), [timed('/x', { 10: 30 }, 80, 95), timed('/y', { 15: 9 }, 1200, 1900)]],
      [at(1), [timed('/x', { 13: 10 }, 510, 700), timed('/y', { 15: 10 }, 1300, 2000)]],
      [at(0), [timed('/x', { 15: 100 }, 1500, 2400)]], // not settled: after the window
    ]);
    // /x: 40 requests, 30 in (75, 100] and 10 in (500, 750], fastest 80 ms, slowest 700 ms: the 95th
    // percentile's rank is 38, the 8th of the 10 in (500, 700]: 500 + 200 * 8 / 10 = 660 ms.
    // /y: 19 requests, fewer than the 20 a latency rule needs by default
    expect(evaluateAlertRules([slow], minutes, T)).toEqual([
      {
        rule: slow,
        key: alertKey('slow', 'shop', 'GET', '/x'),
        service: 'shop',
        method: 'GET',
        endpoint: '/x',
        protocol: 'http',
        value: 660,
        threshold: 500,
        message: 'p95 latency of GET /x (shop) 660 ms over 2 min, above 500 ms (rule slow)',
      },
    ]);
    // 19 are enough for a rule that asks for 19: rank 18.05 of the 19 in (1200, 2000]: 1200 + 800 * 18.05 / 19 = 1960 ms
    expect(evaluateAlertRules([{ ...slow, minRequests: 19 }], minutes, T).map((c) => [c.endpoint, c.value, c.message])).toEqual([
      ['/x', 660, 'p95 latency of GET /x (shop) 660 ms over 2 min, above 500 ms (rule slow)'],
      ['/y', 1960, 'p95 latency of GET /y (shop) 1960 ms over 2 min, above 500 ms (rule slow)'],
    ]);
    // the median of /x: rank 20 of the 30 in (80, 100]: 80 + 20 * 20 / 30 = 93.333 ms, not above 500
    expect(evaluateAlertRules([{ ...slow, metric: 'p50' }], minutes, T)).toEqual([]);
    expect(evaluateAlertRules([{ ...slow, metric: 'p50', above: 90 }], minutes, T).map((c) => [c.endpoint, c.value, c.threshold, c.message])).toEqual([
      ['/x', 93.333, 90, 'p50 latency of GET /x (shop) 93.33 ms over 2 min, above 90 ms (rule slow)'],
    ]);
    // the 99th: rank 39.6, the 9.6th of the 10: 500 + 200 * 9.6 / 10 = 692 ms
    expect(evaluateAlertRules([{ ...slow, metric: 'p99' }], minutes, T).map((c) => [c.endpoint, c.value])).toEqual([['/x', 692]]);
    // above, not at: 660 ms is not above 660
    expect(evaluateAlertRules([{ ...slow, above: 660 }], minutes, T)).toEqual([]);
  });

  it('counts the requests with duration buckets: a window without them (an older aggregator\'s view) never fires', () => {
    const slow = thresholdRule({ name: 'slow', metric: 'p95', per: 'endpoint', windowMinutes: 2, above: 100, minRequests: 1 });
    const minutes = new Map([
      [at(2), [untimed('/old', 500, 9000), untimed('/mixed', 100, 9000)]],
      [at(1), [untimed('/old', 500, 9000), timed('/mixed', { 12: 10 }, 300, 400)]],
    ]);
    // /old: a thousand requests, none with buckets: no percentile, whatever its slowest.
    // /mixed: 10 requests with buckets (in (300, 400]; the older minute's slowest, 9,000 ms, widens
    // the range as it does for /metrics/realtime): rank 9.5 of 10 in (300, 9000] clamped to the
    // bucket's (300, 500]: 300 + 200 * 9.5 / 10 = 490 ms
    expect(evaluateAlertRules([slow], minutes, T).map((c) => [c.endpoint, c.value])).toEqual([['/mixed', 490]]);
    expect(evaluateAlertRules([{ ...slow, minRequests: 11 }], minutes, T)).toEqual([]);
    expect(evaluateAlertRules([{ ...slow, minRequests: 20 }], new Map([[at(1), [untimed('/old', 5000, 9000)]]]), T)).toEqual([]);
  });

  it('per service and for all traffic: the buckets of every series added up, with the fastest and slowest of them all', () => {
    const minutes = new Map([
      [
        at(1),
        [
          timed('/a', { 8: 30 }, 30, 45),
          timed('/b', { 12: 10 }, 300, 480, 'shop', 'POST'),
          timed('/c', { 6: 40 }, 6, 9, 'bank'),
        ],
      ],
    ]);
    const perService = thresholdRule({ name: 'slow-service', metric: 'p95', per: 'service', windowMinutes: 1, above: 200 });
    // shop: 30 in (25, 50] and 10 in (250, 500], fastest 30, slowest 480: rank 38 is the 8th in (250, 480]:
    // 250 + 230 * 8 / 10 = 434 ms. bank: 40 in (6, 9]: 6 + 3 * 38 / 40 = 8.85 ms
    expect(evaluateAlertRules([perService], minutes, T)).toEqual([
      {
        rule: perService,
        key: alertKey('slow-service', 'shop', null, null),
        service: 'shop',
        method: null,
        endpoint: null,
        protocol: null,
        value: 434,
        threshold: 200,
        message: 'p95 latency of service shop 434 ms over 1 min, above 200 ms (rule slow-service)',
      },
    ]);
    expect(evaluateAlertRules([{ ...perService, above: 8 }], minutes, T).map((c) => [c.service, c.value])).toEqual([
      ['shop', 434],
      ['bank', 8.85],
    ]);
    // all: 40 in (5, 10], 30 in (25, 50], 10 in (250, 500], fastest 6, slowest 480: rank 76 is the 6th
    // of the last 10: 250 + 230 * 6 / 10 = 388 ms
    const all = thresholdRule({ name: 'slow-all', metric: 'p95', per: 'all', windowMinutes: 1, above: 200 });
    expect(evaluateAlertRules([all], minutes, T).map(({ rule: _, ...c }) => c)).toEqual([
      { key: alertKey('slow-all', null, null, null), service: null, method: null, endpoint: null, protocol: null, value: 388, threshold: 200, message: 'p95 latency of all traffic 388 ms over 1 min, above 200 ms (rule slow-all)' },
    ]);
    // per endpoint, /a alone (30 in (30, 45]: 30 + 15 * 28.5 / 30 = 44.25 ms); /b has 10 requests
    const perEndpoint = thresholdRule({ name: 'slow-endpoint', metric: 'p95', per: 'endpoint', windowMinutes: 1, above: 40, service: 'shop' });
    expect(evaluateAlertRules([perEndpoint], minutes, T).map((c) => [c.endpoint, c.value])).toEqual([['/a', 44.25]]);
  });

  it('spike: the window\'s percentile against the same percentile of the baseline\'s requests together, above its minimum', () => {
    const slower = spikeRule({ name: 'slower', metric: 'p95', per: 'endpoint', windowMinutes: 1, baselineMinutes: 4, factor: 2, minimum: 100 });
    const minutes = new Map<number, MinuteSeriesTotals[]>();
    for (const m of [5, 4, 3, 2]) {
      minutes.set(at(m), [timed('/s', { 9: 10 }, 55, 70), timed('/f', { 9: 10 }, 55, 70), timed('/n', { 9: 4 }, 55, 70), untimed('/old', 100, 70)]);
    }
    minutes.set(at(1), [timed('/s', { 11: 20 }, 120, 240), timed('/f', { 9: 20 }, 55, 70), timed('/n', { 11: 20 }, 120, 240), timed('/old', { 11: 20 }, 120, 240)]);
    // /s's baseline: 40 in (55, 70]: 55 + 15 * 38 / 40 = 69.25 ms; its window: 20 in (120, 240]:
    // 120 + 120 * 19 / 20 = 234 ms, 3.38 times as slow, at least 2 * 69.25 = 138.5.
    // /f is as fast as it was; /n's baseline has 16 requests and /old's none with buckets: nothing to compare with
    expect(evaluateAlertRules([slower], minutes, T)).toEqual([
      {
        rule: slower,
        key: alertKey('slower', 'shop', 'GET', '/s'),
        service: 'shop',
        method: 'GET',
        endpoint: '/s',
        protocol: 'http',
        value: 234,
        threshold: 138.5,
        message: 'p95 latency of GET /s (shop) 234 ms over 1 min, 3.38x its 4-min p95 of 69.25 ms (rule slower: 2x)',
      },
    ]);
    // a baseline of 16 is enough for a rule that asks for 16 (the window has 20)
    expect(evaluateAlertRules([{ ...slower, minRequests: 16 }], minutes, T).map((c) => [c.endpoint, c.threshold])).toEqual([
      ['/s', 138.5],
      ['/n', 138.5],
    ]);
    // under its minimum, or less than factor times as slow: nothing
    expect(evaluateAlertRules([{ ...slower, minimum: 250 }], minutes, T)).toEqual([]);
    expect(evaluateAlertRules([{ ...slower, factor: 3.5 }], minutes, T)).toEqual([]);
    // the window's own requests must be enough too
    expect(evaluateAlertRules([{ ...slower, minRequests: 21 }], minutes, T)).toEqual([]);
  });
});
