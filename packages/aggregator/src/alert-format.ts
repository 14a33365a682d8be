/**
 * Alert figures as people read them, in messages, the webhook's text and the terminal monitor:
 * rates a second (bytes in binary units, requests and errors to two decimals) and latencies in ms.
 */
import { ALERT_LATENCY_METRICS, type AlertLatencyMetric, type AlertMetric, type AlertRateMetric } from '@otel-bandwidth/storage';

/** Whether a metric is a latency percentile (ms) rather than a rate (a second). */
export function isLatencyMetric(metric: AlertMetric): metric is AlertLatencyMetric {
  return (ALERT_LATENCY_METRICS as readonly string[]).includes(metric);
}

const UNITS = ['B/s', 'KiB/s', 'MiB/s', 'GiB/s', 'TiB/s'];

export const round2 = (n: number): number => Math.round(n * 100) / 100;

/** A rate as people read it: bytes in binary units, requests and errors to two decimals. */
export function formatRate(metric: AlertRateMetric, perSecond: number): string {
  if (metric === 'requests' || metric === 'errors') return `${round2(perSecond)} ${metric}/s`;
  let v = perSecond;
  let u = 0;
  while (v >= 1024 && u < UNITS.length - 1) {
    v /= 1024;
    u++;
  }
  return `${round2(v)} ${UNITS[u] as string}`;
}

/** A latency in ms, to two decimals: 812.5 ms. */
export function formatLatency(ms: number): string {
  return `${round2(ms)} ms`;
}

/** A value of an alert in its metric's unit: a rate a second, or a latency in ms. */
export function formatAlertValue(metric: AlertMetric, value: number): string {
  return isLatencyMetric(metric) ? formatLatency(value) : formatRate(metric, value);
}

/** What a message calls the metric. */
export const METRIC_WORDS: Readonly<Record<AlertMetric, string>> = {
  bandwidth: 'bandwidth',
  inbound: 'inbound bandwidth',
  outbound: 'outbound bandwidth',
  requests: 'request rate',
  errors: 'error rate',
  p50: 'p50 latency',
  p95: 'p95 latency',
  p99: 'p99 latency',
};
