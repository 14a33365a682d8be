/**
 * Which alert conditions hold: pure, from per-minute totals of the realtime view. The caller reads
 * the minutes (alert-monitor.ts); this decides, for each rule and each endpoint, service or the
 * whole of the traffic the rule watches, whether its condition holds now, with the figures an
 * alert stores and says.
 */
import { createHash } from 'node:crypto';
import { MINUTE_MS } from '@otel-bandwidth/core';
import { METRIC_WORDS, formatRate, round2 } from './alert-format';
import type { AlertMetric, AlertRule } from './alert-rules';

/** One series' totals in one minute of the realtime view. */
export interface MinuteSeriesTotals {
  service: string;
  method: string;
  endpoint: string;
  protocol: string;
  requests: number;
  inboundBytes: number;
  outboundBytes: number;
  errors: number;
}

/** The realtime view's minutes: minute start (ms) -> the series seen in it. */
export type MinuteTotals = ReadonlyMap<number, readonly MinuteSeriesTotals[]>;

/** A rule's condition holding for one endpoint, service or everything. */
export interface AlertCondition {
  rule: AlertRule;
  /** the rule and what it watches, one string: one open alert per key */
  key: string;
  service: string | null;
  method: string | null;
  endpoint: string | null;
  protocol: string | null;
  /** the window's rate, per second */
  value: number;
  /** the rate it crossed, per second */
  threshold: number;
  message: string;
}

function metricOf(metric: AlertMetric, s: MinuteSeriesTotals): number {
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

/** An alert's key: the rule's name and what it watches, hashed to fit an indexed column. */
export function alertKey(rule: string, service: string | null, method: string | null, endpoint: string | null): string {
  return createHash('sha256').update(JSON.stringify([rule, service, method, endpoint])).digest('hex');
}

interface Group {
  service: string | null;
  method: string | null;
  endpoint: string | null;
  protocol: string | null;
  /** the metric per minute, index 0 the earliest minute read */
  perMinute: number[];
}

function subject(g: Group): string {
  if (g.endpoint !== null) return `${g.method ?? ''} ${g.endpoint} (${g.service ?? ''})`;
  if (g.service !== null) return `service ${g.service}`;
  return 'all traffic';
}

/**
 * The conditions that hold over the window of whole minutes ending at `windowEndMs` (a minute
 * start: the window is [windowEndMs - windowMinutes, windowEndMs)). `minutes` must hold every
 * minute the rules read (a minute missing is a minute without traffic).
 */
export function evaluateAlertRules(rules: readonly AlertRule[], minutes: MinuteTotals, windowEndMs: number): AlertCondition[] {
  const out: AlertCondition[] = [];
  for (const rule of rules) {
    const baseline = rule.type === 'threshold' ? 0 : rule.baselineMinutes;
    const span = rule.windowMinutes + baseline;
    const first = windowEndMs - span * MINUTE_MS;
    const groups = new Map<string, Group>();
    for (let i = 0; i < span; i++) {
      for (const s of minutes.get(first + i * MINUTE_MS) ?? []) {
        if (rule.service !== undefined && s.service !== rule.service) continue;
        if (rule.endpoint !== undefined && s.endpoint !== rule.endpoint) continue;
        const g: Omit<Group, 'perMinute'> =
          rule.per === 'endpoint'
            ? { service: s.service, method: s.method, endpoint: s.endpoint, protocol: s.protocol }
            : rule.per === 'service'
              ? { service: s.service, method: null, endpoint: null, protocol: null }
              : { service: null, method: null, endpoint: null, protocol: null };
        const code = JSON.stringify([g.service, g.method, g.endpoint, g.protocol]);
        let group = groups.get(code);
        if (group === undefined) {
          group = { ...g, perMinute: new Array<number>(span).fill(0) };
          groups.set(code, group);
        }
        (group.perMinute as number[])[i] = (group.perMinute[i] as number) + metricOf(rule.metric, s);
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
        message: `${METRIC_WORDS[rule.metric]} of ${subject(g)} ${formatRate(rule.metric, value)} over ${rule.windowMinutes} min, ${found.why}`,
      });
    }
  }
  return out;
}

/** Whether the rule's condition holds for a group whose window rate is `value`; undefined if not. */
function judge(rule: AlertRule, g: Group, value: number, baseline: number): { threshold: number; why: string } | undefined {
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
