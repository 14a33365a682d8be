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
  /**
   * The requests per duration bucket, as the view's `b<i>` fields (index into
   * DURATION_BOUNDARIES_MS, then +Inf: REALTIME_DURATION_BUCKETS of them); absent when the minute
   * holds none for the series (a view written by an aggregator older than the buckets), or when
   * no rule reads latencies
   */
  durationBuckets?: readonly number[];
  /** the fastest request, ms, when the view holds it */
  minDurationMs?: number;
  /** the slowest request, ms, when the view holds it */
  maxDurationMs?: number;
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
  /** the window's rate, per second, or its latency percentile, ms */
  value: number;
  /** what it crossed, in the unit of value */
  threshold: number;
  message: string;
}
