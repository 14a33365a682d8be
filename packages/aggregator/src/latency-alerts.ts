/**
 * Latency rules (p50, p95, p99, ms), pure: for each endpoint, service or the whole of the traffic
 * the rule watches, the percentile of the window's requests, estimated as /metrics/realtime
 * estimates it: the duration buckets of the window's minutes and series added up, narrowed to the
 * fastest and slowest of them (core's DurationTally and durationQuantile). It is judged against a
 * threshold, or against the same percentile of the baseline minutes' requests together.
 *
 * A window needs the rule's minRequests requests with duration buckets before the rule can fire,
 * and a spike's baseline as many before the window is compared with it: one slow request is not an
 * endpoint gone slow, and a few fast ones are no measure of how fast it was. So a window without
 * bucket data (minutes written by an aggregator older than the buckets) never fires.
 */
import { DurationTally, MINUTE_MS } from '@otel-bandwidth/core';
import type { AlertCondition, MinuteSeriesTotals, MinuteTotals } from './alert-condition';
import { METRIC_WORDS, formatLatency, round2 } from './alert-format';
import { DEFAULT_MIN_REQUESTS, type AlertLatencyMetric, type LatencyRule } from './alert-rules';
import { alertKey, describeSubject, subjectCode, subjectOf, type AlertSubject } from './alert-scope';

/** The quantile each latency metric is. */
export const LATENCY_QUANTILES: Readonly<Record<AlertLatencyMetric, number>> = { p50: 0.5, p95: 0.95, p99: 0.99 };

interface Group {
  subject: AlertSubject;
  window: DurationTally;
  /** a spike's baseline minutes (empty for a threshold rule) */
  baseline: DurationTally;
}

/** Adds a series' minute as /metrics/realtime does: its bucket counts, fastest and slowest request. */
function addMinute(t: DurationTally, s: MinuteSeriesTotals): void {
  s.durationBuckets?.forEach((n, i) => t.addBucket(i, n));
  if (s.minDurationMs !== undefined) t.addMin(s.minDurationMs);
  if (s.maxDurationMs !== undefined) t.addMax(s.maxDurationMs);
}

/** The q-quantile of a tally's requests (ms) and how many they are; undefined when it has no bucket counts. */
function percentileOf(t: DurationTally, q: number): { ms: number; requests: number } | undefined {
  const ms = t.quantile(q);
  return ms === null ? undefined : { ms, requests: t.requests() };
}

/** The conditions of a latency rule that hold over the window of whole minutes ending at `windowEndMs`. */
export function evaluateLatencyRule(rule: LatencyRule, minutes: MinuteTotals, windowEndMs: number): AlertCondition[] {
  const windowStart = windowEndMs - rule.windowMinutes * MINUTE_MS;
  const first = windowStart - (rule.type === 'spike' ? rule.baselineMinutes : 0) * MINUTE_MS;
  const groups = new Map<string, Group>();
  for (let m = first; m < windowEndMs; m += MINUTE_MS) {
    for (const s of minutes.get(m) ?? []) {
      const subject = subjectOf(rule, s);
      if (subject === undefined) continue;
      const code = subjectCode(subject);
      let g = groups.get(code);
      if (g === undefined) {
        g = { subject, window: new DurationTally(), baseline: new DurationTally() };
        groups.set(code, g);
      }
      addMinute(m < windowStart ? g.baseline : g.window, s);
    }
  }
  const q = LATENCY_QUANTILES[rule.metric];
  const minRequests = rule.minRequests ?? DEFAULT_MIN_REQUESTS;
  const out: AlertCondition[] = [];
  for (const { subject, window, baseline } of groups.values()) {
    const now = percentileOf(window, q);
    if (now === undefined || now.requests < minRequests) continue;
    const found = judge(rule, now.ms, baseline, q, minRequests);
    if (found === undefined) continue;
    out.push({
      rule,
      key: alertKey(rule.name, subject.service, subject.method, subject.endpoint),
      ...subject,
      value: now.ms,
      threshold: found.threshold,
      message: `${METRIC_WORDS[rule.metric]} of ${describeSubject(subject)} ${formatLatency(now.ms)} over ${rule.windowMinutes} min, ${found.why}`,
    });
  }
  return out;
}

/** Whether the rule's condition holds for a window whose percentile is `value` ms; undefined if not. */
function judge(rule: LatencyRule, value: number, baseline: DurationTally, q: number, minRequests: number): { threshold: number; why: string } | undefined {
  if (rule.type === 'threshold') {
    return value > rule.above ? { threshold: rule.above, why: `above ${formatLatency(rule.above)} (rule ${rule.name})` } : undefined;
  }
  if (value < rule.minimum || value === 0) return undefined;
  const before = percentileOf(baseline, q);
  if (before === undefined || before.requests < minRequests) return undefined;
  const threshold = before.ms * rule.factor;
  if (value < threshold) return undefined;
  const ratio = before.ms > 0 ? `${round2(value / before.ms)}x` : 'above';
  return { threshold, why: `${ratio} its ${rule.baselineMinutes}-min ${rule.metric} of ${formatLatency(before.ms)} (rule ${rule.name}: ${rule.factor}x)` };
}
