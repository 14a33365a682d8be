/**
 * Latency percentiles from stored duration buckets: the counts per bucket of
 * DURATION_BOUNDARIES_SECONDS (then +Inf), with the range's fastest and slowest request, as
 * metrics_hourly keeps them. The estimate is the one Prometheus' histogram_quantile makes (linear
 * within the bucket the rank falls in), with the bucket's ends narrowed to the observed minimum
 * and maximum: a range whose requests all fall in one bucket, or a single request, is then
 * bounded by what was seen, and the +Inf bucket ends at the slowest request rather than nowhere.
 */
import { DURATION_BOUNDARIES_SECONDS } from './http-metrics';

/** The bucket boundaries in milliseconds, as the tables and the API speak of durations. */
export const DURATION_BOUNDARIES_MS: readonly number[] = DURATION_BOUNDARIES_SECONDS.map((s) => Math.round(s * 1e6) / 1e3);

export interface DurationDistribution {
  /** requests per bucket: one more than DURATION_BOUNDARIES_MS, the last one past the last bound */
  readonly buckets: readonly number[];
  /** the fastest request, ms (null when unknown) */
  readonly minMs: number | null;
  /** the slowest request, ms */
  readonly maxMs: number;
}

/**
 * The q-quantile (0..1) of the durations, in ms, rounded to the microsecond; null when no
 * request was counted.
 */
export function durationQuantile(d: DurationDistribution, q: number): number | null {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`a quantile is between 0 and 1, not ${q}`);
  if (d.buckets.length !== DURATION_BOUNDARIES_MS.length + 1) {
    throw new RangeError(`expected ${DURATION_BOUNDARIES_MS.length + 1} duration buckets, got ${d.buckets.length}`);
  }
  let total = 0;
  for (const n of d.buckets) total += n;
  if (total <= 0) return null;
  const minMs = d.minMs ?? 0;
  const maxMs = Math.max(d.maxMs, minMs);
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < d.buckets.length; i++) {
    const n = d.buckets[i] as number;
    if (n > 0 && below + n >= rank) {
      const lower = Math.max(i === 0 ? 0 : (DURATION_BOUNDARIES_MS[i - 1] as number), minMs);
      const upper = Math.min(i < DURATION_BOUNDARIES_MS.length ? (DURATION_BOUNDARIES_MS[i] as number) : Number.POSITIVE_INFINITY, maxMs);
      if (upper <= lower) return round3(upper);
      return round3(lower + ((upper - lower) * Math.max(rank - below, 0)) / n);
    }
    below += n;
  }
  return round3(maxMs);
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
