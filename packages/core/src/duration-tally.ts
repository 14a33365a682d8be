/**
 * Duration buckets added up from parts, such as the realtime view's minutes and series, with the
 * fastest and slowest request of them all: the DurationDistribution that durationQuantile reads.
 * A tally that was given no bucket count has no distribution, so a reader can tell "no bucket
 * data" (a view written before the buckets were) from "no requests".
 */
import { DURATION_BOUNDARIES_MS, durationQuantile, type DurationDistribution } from './duration-percentiles';

export class DurationTally {
  /** per storage bucket (DURATION_BOUNDARIES_MS, then +Inf); undefined until one is counted */
  private counts: number[] | undefined;
  private minMs = Number.POSITIVE_INFINITY;
  private maxMs = 0;

  /** Adds `count` requests to bucket `index`; a value that is not a finite count (a damaged field) is ignored. */
  addBucket(index: number, count: number): void {
    if (!(Number.isInteger(index) && index >= 0 && index <= DURATION_BOUNDARIES_MS.length)) {
      throw new RangeError(`a duration bucket index is an integer from 0 to ${DURATION_BOUNDARIES_MS.length}, not ${index}`);
    }
    if (!(Number.isFinite(count) && count >= 0)) return;
    (this.bucketCounts()[index] as number) += count;
  }

  /** A part's fastest request, ms. */
  addMin(ms: number): void {
    if (Number.isFinite(ms) && ms >= 0 && ms < this.minMs) this.minMs = ms;
  }

  /** A part's slowest request, ms. */
  addMax(ms: number): void {
    if (Number.isFinite(ms) && ms > this.maxMs) this.maxMs = ms;
  }

  /** Adds another tally's buckets, fastest and slowest request. */
  addTally(other: DurationTally): void {
    if (other.counts !== undefined) {
      const counts = this.bucketCounts();
      other.counts.forEach((n, i) => (counts[i] = (counts[i] as number) + n));
    }
    this.addMin(other.minMs);
    this.addMax(other.maxMs);
  }

  private bucketCounts(): number[] {
    this.counts ??= new Array<number>(DURATION_BOUNDARIES_MS.length + 1).fill(0);
    return this.counts;
  }

  /** The buckets with the range's fastest and slowest request; undefined when no bucket was counted. */
  distribution(): DurationDistribution | undefined {
    if (this.counts === undefined) return undefined;
    return { buckets: [...this.counts], minMs: Number.isFinite(this.minMs) ? this.minMs : null, maxMs: this.maxMs };
  }

  /** The requests counted in the buckets. */
  requests(): number {
    let n = 0;
    for (const c of this.counts ?? []) n += c;
    return n;
  }

  /** The q-quantile of the durations (durationQuantile); null when no bucket was counted (or none holds a request). */
  quantile(q: number): number | null {
    const d = this.distribution();
    return d === undefined ? null : durationQuantile(d, q);
  }
}
