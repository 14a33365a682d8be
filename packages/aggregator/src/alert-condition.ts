/**
 * What rules are evaluated over (a series' totals in each minute of the realtime view) and what an
 * evaluation finds (a condition holding for an endpoint, a service or everything).
 */
import type { AlertRule } from './alert-rules';

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
