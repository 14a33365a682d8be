/**
 * Rate rules (bandwidth, inbound, outbound, requests, errors a second), pure: for each endpoint,
 * service or the whole of the traffic the rule watches, the rate over the window, judged against
 * a threshold, or against the per-minute rates of the baseline minutes before the window.
 */
import { MINUTE_MS } from '@otel-bandwidth/core';
import type { AlertCondition, MinuteSeriesTotals, MinuteTotals } from './alert-condition';
import { METRIC_WORDS, formatRate, round2 } from './alert-format';
import type { AlertRateMetric, RateRule } from './alert-rules';
import { alertKey, describeSubject, subjectCode, subjectOf, type AlertSubject } from './alert-scope';

function metricOf(metric: AlertRateMetric, s: MinuteSeriesTotals): number {
  switch (metric) {
    case 'bandwidth':
      return s.inboundBytes + s.outboundBytes;
    case 'inbound':
      return s.inboundBytes;
    case 'outbound':
      return s.outboundBytes;
    case 'requests':
      return s.requests;
    case 'errors':
      return s.errors;
  }
}

interface Group extends AlertSubject {
  /** the metric per minute, index 0 the earliest minute read */
  perMinute: number[];
}

/**
 * The conditions of a rate rule that hold over the window of whole minutes ending at `windowEndMs`
 * (a minute missing from `minutes` is a minute without traffic).
 */
export function evaluateRateRule(rule: RateRule, minutes: MinuteTotals, windowEndMs: number): AlertCondition[] {
  const out: AlertCondition[] = [];
  const baseline = rule.type === 'threshold' ? 0 : rule.baselineMinutes;
  const span = rule.windowMinutes + baseline;
  const first = windowEndMs - span * MINUTE_MS;
  const groups = new Map<string, Group>();
  for (let i = 0; i < span; i++) {
    for (const s of minutes.get(first + i * MINUTE_MS) ?? []) {
      const subject = subjectOf(rule, s);
      if (subject === undefined) continue;
      const code = subjectCode(subject);
      let group = groups.get(code);
      if (group === undefined) {
        group = { ...subject, perMinute: new Array<number>(span).fill(0) };
        groups.set(code, group);
      }
      group.perMinute[i] = (group.perMinute[i] as number) + metricOf(rule.metric, s);
    }
  }
  for (const g of groups.values()) {
    let windowTotal = 0;
    for (let i = baseline; i < span; i++) windowTotal += g.perMinute[i] as number;
    const value = windowTotal / (rule.windowMinutes * 60);
    const found = judge(rule, g, value, baseline);
    if (found === undefined) continue;
    out.push({
      rule,
      key: alertKey(rule.name, g.service, g.method, g.endpoint),
      service: g.service,
      method: g.method,
      endpoint: g.endpoint,
      protocol: g.protocol,
      value,
      threshold: found.threshold,
      message: `${METRIC_WORDS[rule.metric]} of ${describeSubject(g)} ${formatRate(rule.metric, value)} over ${rule.windowMinutes} min, ${found.why}`,
    });
  }
  return out;
}

/** Whether the rule's condition holds for a group whose window rate is `value`; undefined if not. */
function judge(rule: RateRule, g: Group, value: number, baseline: number): { threshold: number; why: string } | undefined {
  if (rule.type === 'threshold') {
    return value > rule.above ? { threshold: rule.above, why: `above ${formatRate(rule.metric, rule.above)} (rule ${rule.name})` } : undefined;
  }
  if (value < rule.minimum || value === 0) return undefined;
  // per-minute rates of the baseline, minutes without traffic included
  let sum = 0;
  for (let i = 0; i < baseline; i++) sum += (g.perMinute[i] as number) / 60;
  const mean = sum / baseline;
  if (rule.type === 'spike') {
    const threshold = mean * rule.factor;
    if (value < threshold) return undefined;
    const ratio = mean > 0 ? `${round2(value / mean)}x` : 'up from nothing against';
    return { threshold, why: `${ratio} its ${baseline}-min average of ${formatRate(rule.metric, mean)} (rule ${rule.name}: ${rule.factor}x)` };
  }
  let squares = 0;
  for (let i = 0; i < baseline; i++) squares += ((g.perMinute[i] as number) / 60 - mean) ** 2;
  const deviation = Math.sqrt(squares / baseline);
  const threshold = mean + rule.deviations * deviation;
  if (value <= threshold) return undefined;
  const how = deviation > 0 ? `${round2((value - mean) / deviation)} standard deviations above` : 'above a flat';
  return { threshold, why: `${how} its ${baseline}-min mean of ${formatRate(rule.metric, mean)} (rule ${rule.name}: ${rule.deviations})` };
}
