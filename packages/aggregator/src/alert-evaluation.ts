/**
 * Which alert conditions hold: pure, from per-minute totals of the realtime view. The caller reads
 * the minutes (alert-monitor.ts); this decides, for each rule and each endpoint, service or the
 * whole of the traffic the rule watches, whether its condition holds now, with the figures an
 * alert stores and says: rates in rate-alerts.ts, latencies in latency-alerts.ts.
 */
import type { AlertCondition, MinuteTotals } from './alert-condition';
import { isLatencyRule, isRateRule, type AlertRule } from './alert-rules';
import { evaluateLatencyRule } from './latency-alerts';
import { evaluateRateRule } from './rate-alerts';

export type { AlertCondition, MinuteSeriesTotals, MinuteTotals } from './alert-condition';
export { alertKey } from './alert-scope';

/**
 * The conditions that hold over the window of whole minutes ending at `windowEndMs` (a minute
 * start: the window is [windowEndMs - windowMinutes, windowEndMs)). `minutes` must hold every
 * minute the rules read (a minute missing is a minute without traffic).
 */
export function evaluateAlertRules(rules: readonly AlertRule[], minutes: MinuteTotals, windowEndMs: number): AlertCondition[] {
  const out: AlertCondition[] = [];
  for (const rule of rules) {
    if (isRateRule(rule)) out.push(...evaluateRateRule(rule, minutes, windowEndMs));
    else if (isLatencyRule(rule)) out.push(...evaluateLatencyRule(rule, minutes, windowEndMs));
  }
  return out;
}
