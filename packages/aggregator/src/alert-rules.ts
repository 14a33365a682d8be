/**
 * Alert rules: what they say, and reading them from JSON with every mistake named. The rules are
 * a JSON array, in a file (OTEL_BANDWIDTH_ALERT_RULES=/path/rules.json) or inline
 * (OTEL_BANDWIDTH_ALERT_RULES='[...]'). Rates are per second, latencies percentiles in ms, over
 * the rule's window of whole minutes of data time:
 *
 *   { "name": "egress", "type": "threshold", "metric": "outbound", "per": "endpoint",
 *     "windowMinutes": 5, "above": 10485760, "severity": "high" }
 *   { "name": "surge", "type": "spike", "metric": "bandwidth", "per": "service",
 *     "windowMinutes": 5, "baselineMinutes": 30, "factor": 3, "minimum": 102400 }
 *   { "name": "odd", "type": "anomaly", "metric": "requests", "per": "all",
 *     "windowMinutes": 1, "baselineMinutes": 60, "deviations": 4, "minimum": 10 }
 *   { "name": "slow-api", "type": "threshold", "metric": "p95", "per": "endpoint",
 *     "windowMinutes": 5, "above": 500, "minRequests": 20 }
 *
 * A latency (p50, p95, p99) is watched by threshold and spike rules, not by anomaly rules: a
 * minute without requests has no percentile (where its rate is 0), one of a few requests has a
 * percentile that is mostly chance, and the mean of per-minute percentiles is not the percentile
 * of the minutes together, so deviations of them would say little; a spike compares the window's
 * percentile with the percentile of the baseline's requests together.
 */
import fs from 'node:fs';
import {
  ALERT_LATENCY_METRICS,
  ALERT_METRICS,
  ALERT_RATE_METRICS,
  ALERT_SEVERITIES,
  type AlertLatencyMetric,
  type AlertMetric,
  type AlertRateMetric,
  type AlertSeverity,
} from '@otel-bandwidth/storage';
import { isLatencyMetric } from './alert-format';

export { ALERT_LATENCY_METRICS, ALERT_METRICS, ALERT_RATE_METRICS, type AlertLatencyMetric, type AlertMetric, type AlertRateMetric };
/** What one alert watches: each endpoint (service, method, route), each service, or all traffic together. */
export const ALERT_SCOPES = ['endpoint', 'service', 'all'] as const;
export type AlertScope = (typeof ALERT_SCOPES)[number];
/**
 * The requests a latency rule's window needs before it can fire (and a spike's baseline before it
 * is compared with), unless the rule says otherwise: one slow request is not an endpoint gone slow.
 */
export const DEFAULT_MIN_REQUESTS = 20;

interface RuleCommon {
  /** unique among the rules; stored with each alert */
  name: string;
  /** a rate a second, or a latency percentile in ms (p50, p95, p99) */
  metric: AlertMetric;
  per: AlertScope;
  /** the rate or percentile is taken over this many whole minutes, the latest settled ones (1-60) */
  windowMinutes: number;
  severity: AlertSeverity;
  /** only this service's traffic */
  service?: string;
  /** only this endpoint (route template, as stored) */
  endpoint?: string;
  /**
   * An open alert is resolved once its condition has not held for this many minutes of data
   * (0-60, default 3), so that a rate hovering about its threshold does not open and resolve
   * an alert every minute
   */
  resolveAfterMinutes: number;
  /**
   * Latency metrics only (parseAlertRules sets it on them, DEFAULT_MIN_REQUESTS unless given, and
   * refuses it on rates; a latency rule without it has the default): the requests with duration
   * buckets a window needs before the rule can fire, and a spike's baseline before it is
   * compared with
   */
  minRequests?: number;
}

/** Fires while the window's rate (or percentile, ms) is above `above`. */
export interface ThresholdRule extends RuleCommon {
  type: 'threshold';
  above: number;
}

/**
 * Fires while the window's rate is at least `factor` times its average over the `baselineMinutes`
 * before the window, and at least `minimum`; for a latency, while the window's percentile is at
 * least `factor` times the percentile of the baseline's requests, and at least `minimum` ms.
 */
export interface SpikeRule extends RuleCommon {
  type: 'spike';
  factor: number;
  baselineMinutes: number;
  minimum: number;
}

/**
 * Fires while the window's rate is more than `deviations` standard deviations above the mean of the
 * per-minute rates of the `baselineMinutes` before the window, and at least `minimum`. Rates only.
 */
export interface AnomalyRule extends Omit<RuleCommon, 'metric' | 'minRequests'> {
  type: 'anomaly';
  metric: AlertRateMetric;
  deviations: number;
  baselineMinutes: number;
  minimum: number;
}

export type AlertRule = ThresholdRule | SpikeRule | AnomalyRule;
/** A rule over a rate: bytes, requests or errors a second. */
export type RateRule = AlertRule & { metric: AlertRateMetric };
/** A rule over a latency percentile, ms: a threshold or a spike. */
export type LatencyRule = (ThresholdRule | SpikeRule) & { metric: AlertLatencyMetric };

export function isRateRule(rule: AlertRule): rule is RateRule {
  return !isLatencyMetric(rule.metric);
}

export function isLatencyRule(rule: AlertRule): rule is LatencyRule {
  return rule.type !== 'anomaly' && isLatencyMetric(rule.metric);
}

/** The realtime view keeps two hours; a rule's window and baseline must fit in it with room to settle. */
export const MAX_RULE_SPAN_MINUTES = 100;
const RULE_TYPES = ['threshold', 'spike', 'anomaly'] as const;
const KNOWN_FIELDS: Record<AlertRule['type'], readonly string[]> = {
  threshold: ['name', 'type', 'metric', 'per', 'windowMinutes', 'severity', 'service', 'endpoint', 'resolveAfterMinutes', 'above', 'minRequests'],
  spike: ['name', 'type', 'metric', 'per', 'windowMinutes', 'severity', 'service', 'endpoint', 'resolveAfterMinutes', 'factor', 'baselineMinutes', 'minimum', 'minRequests'],
  anomaly: ['name', 'type', 'metric', 'per', 'windowMinutes', 'severity', 'service', 'endpoint', 'resolveAfterMinutes', 'deviations', 'baselineMinutes', 'minimum'],
};

/** Reads one rule's fields, collecting every problem under the rule's name. */
class RuleReader {
  constructor(
    private readonly raw: Record<string, unknown>,
    private readonly where: string,
    private readonly problems: string[],
  ) {}

  private problem(field: string, message: string): void {
    this.problems.push(`${this.where}: "${field}" ${message}`);
  }

  oneOf<T extends string>(field: string, allowed: readonly T[], fallback?: T): T {
    const v = this.raw[field];
    if (v === undefined && fallback !== undefined) return fallback;
    if (typeof v === 'string' && (allowed as readonly string[]).includes(v)) return v as T;
    this.problem(field, `${v === undefined ? 'is missing' : `is ${JSON.stringify(v)}`}: must be one of ${allowed.join(', ')}`);
    return allowed[0] as T;
  }

  number(field: string, range: { min?: number; above?: number; max?: number; whole?: boolean }, fallback?: number): number {
    const v = this.raw[field];
    if (v === undefined && fallback !== undefined) return fallback;
    const bounds = [
      range.above !== undefined ? `above ${range.above}` : undefined,
      range.min !== undefined ? `at least ${range.min}` : undefined,
      range.max !== undefined ? `at most ${range.max}` : undefined,
    ]
      .filter((x) => x !== undefined)
      .join(' and ');
    const want = `${range.whole ? 'a whole number' : 'a number'}${bounds ? ` ${bounds}` : ''}`;
    if (typeof v !== 'number' || !Number.isFinite(v) || (range.whole === true && !Number.isInteger(v))) {
      this.problem(field, `${v === undefined ? 'is missing' : `is ${JSON.stringify(v)}`}: must be ${want}`);
      return 1;
    }
    if ((range.min !== undefined && v < range.min) || (range.above !== undefined && v <= range.above) || (range.max !== undefined && v > range.max)) {
      this.problem(field, `is ${v}: must be ${want}`);
      return 1;
    }
    return v;
  }

  optionalString(field: string): string | undefined {
    const v = this.raw[field];
    if (v === undefined) return undefined;
    if (typeof v === 'string' && v !== '') return v;
    this.problem(field, `is ${JSON.stringify(v)}: must be a non-empty string`);
    return undefined;
  }
}

/**
 * The rules in `json` (a JSON array), checked. Throws an Error listing every problem, each naming
 * the rule (by name, or by position) and the field.
 */
export function parseAlertRules(json: string, source = 'alert rules'): AlertRule[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new Error(`${source}: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(parsed)) throw new Error(`${source}: must be a JSON array of rules`);
  const problems: string[] = [];
  const rules: AlertRule[] = [];
  const names = new Set<string>();
  parsed.forEach((item: unknown, i) => {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) {
      problems.push(`rule ${i + 1}: must be an object`);
      return;
    }
    const raw = item as Record<string, unknown>;
    const named = typeof raw.name === 'string' && raw.name !== '' && raw.name.length <= 128;
    const where = named ? `rule ${i + 1} ("${raw.name as string}")` : `rule ${i + 1}`;
    const before = problems.length;
    if (!named) problems.push(`${where}: "name" must be a string of 1 to 128 characters`);
    else if (names.has(raw.name as string)) problems.push(`${where}: "name" is used by an earlier rule`);
    else names.add(raw.name as string);
    const r = new RuleReader(raw, where, problems);
    const typeKnown = typeof raw.type === 'string' && (RULE_TYPES as readonly string[]).includes(raw.type);
    const type = r.oneOf('type', RULE_TYPES);
    // the fields of a rule of unknown type are not judged: its type is the mistake
    if (!typeKnown) return;
    for (const field of Object.keys(raw)) {
      if (!KNOWN_FIELDS[type].includes(field)) problems.push(`${where}: "${field}" is not a field of ${type === 'anomaly' ? 'an' : 'a'} ${type} rule (${KNOWN_FIELDS[type].join(', ')})`);
    }
    const metricKnown = typeof raw.metric === 'string' && (ALERT_METRICS as readonly string[]).includes(raw.metric);
    const metric = r.oneOf('metric', ALERT_METRICS);
    // an anomaly rule watches rates only (the file's comment says why)
    const rateMetric: AlertRateMetric = isLatencyMetric(metric) ? ALERT_RATE_METRICS[0] : metric;
    if (type === 'anomaly' && isLatencyMetric(metric)) {
      problems.push(
        `${where}: "metric" is "${metric}": an anomaly rule watches a rate (${ALERT_RATE_METRICS.join(', ')}), not a latency; ` +
          'watch a latency with a threshold or spike rule',
      );
    }
    const common: RuleCommon = {
      name: String(raw.name),
      metric,
      per: r.oneOf('per', ALERT_SCOPES),
      windowMinutes: r.number('windowMinutes', { min: 1, max: 60, whole: true }, 5),
      severity: r.oneOf('severity', ALERT_SEVERITIES, 'medium'),
      resolveAfterMinutes: r.number('resolveAfterMinutes', { min: 0, max: 60, whole: true }, 3),
    };
    const service = r.optionalString('service');
    const endpoint = r.optionalString('endpoint');
    if (service !== undefined) common.service = service;
    if (endpoint !== undefined) common.endpoint = endpoint;
    let rule: AlertRule;
    if (type === 'threshold') {
      rule = { ...common, type, above: r.number('above', { min: 0 }) };
    } else {
      const baselineMinutes = r.number('baselineMinutes', { min: 2, max: 60, whole: true }, type === 'spike' ? 30 : 60);
      if (common.windowMinutes + baselineMinutes > MAX_RULE_SPAN_MINUTES) {
        problems.push(`${where}: "windowMinutes" + "baselineMinutes" is ${common.windowMinutes + baselineMinutes}: must be at most ${MAX_RULE_SPAN_MINUTES} (the realtime view keeps two hours)`);
      }
      const minimum = r.number('minimum', { min: 0 }, 0);
      rule =
        type === 'spike'
          ? { ...common, type, factor: r.number('factor', { above: 1 }), baselineMinutes, minimum }
          : { ...common, metric: rateMetric, type, deviations: r.number('deviations', { above: 0 }, 3), baselineMinutes, minimum };
    }
    if (rule.type !== 'anomaly') {
      if (isLatencyMetric(metric)) rule.minRequests = r.number('minRequests', { min: 1, whole: true }, DEFAULT_MIN_REQUESTS);
      else if (metricKnown && raw.minRequests !== undefined) {
        problems.push(
          `${where}: "minRequests" is a field of latency rules only (metric ${ALERT_LATENCY_METRICS.join(', ')}), not of a "${metric}" rule: ` +
            'a rate counts every request',
        );
      }
    }
    if (problems.length === before) rules.push(rule);
  });
  if (problems.length > 0) throw new Error(`${source}:\n  - ${problems.join('\n  - ')}`);
  return rules;
}

/**
 * OTEL_BANDWIDTH_ALERT_RULES: inline JSON (it starts with "["), or the path of a JSON file.
 * Throws an Error naming the variable and every problem.
 */
export function loadAlertRules(value: string): AlertRule[] {
  const text = value.trim();
  if (text.startsWith('[')) return parseAlertRules(text, 'OTEL_BANDWIDTH_ALERT_RULES');
  let content: string;
  try {
    content = fs.readFileSync(text, 'utf8');
  } catch (err) {
    throw new Error(`OTEL_BANDWIDTH_ALERT_RULES="${text}": cannot read the file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give a JSON file's path or the JSON itself`);
  }
  return parseAlertRules(content, `OTEL_BANDWIDTH_ALERT_RULES="${text}"`);
}

/** How much realtime data rules need: the minutes before a window's end that any of them reads. */
export function minutesNeeded(rules: readonly AlertRule[]): number {
  let n = 0;
  for (const r of rules) n = Math.max(n, r.windowMinutes + (r.type === 'threshold' ? 0 : r.baselineMinutes));
  return n;
}
