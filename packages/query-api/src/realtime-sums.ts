import { DurationTally, type RealtimeStat } from '@otel-bandwidth/core';

export const round3 = (n: number): number => Math.round(n * 1000) / 1000;

/**
 * Figures added up from the realtime view's fields (RealtimeViewReader), over minutes and series:
 * one endpoint's over a window (/metrics/realtime), or one minute's over the series a filter
 * keeps (/metrics/minutes).
 */
export class RealtimeSums {
  requests = 0;
  inbound = 0;
  outbound = 0;
  inboundWire = 0;
  outboundWire = 0;
  errors = 0;
  durationSumMs = 0;
  maxMs = 0;
  /** the duration buckets with the fastest and slowest request */
  readonly durations = new DurationTally();

  add(stat: RealtimeStat, n: number, bucket: number | undefined): void {
    switch (stat) {
      case 'requests': this.requests += n; break;
      case 'inboundBytes': this.inbound += n; break;
      case 'outboundBytes': this.outbound += n; break;
      case 'inboundWireBytes': this.inboundWire += n; break;
      case 'outboundWireBytes': this.outboundWire += n; break;
      case 'errors': this.errors += n; break;
      case 'durationSumMs': this.durationSumMs += n; break;
      case 'maxDurationMs': this.maxMs = Math.max(this.maxMs, n); this.durations.addMax(n); break;
      case 'minDurationMs': this.durations.addMin(n); break;
      case 'durationBucket': if (bucket !== undefined) this.durations.addBucket(bucket, n); break;
    }
  }

  /** The mean duration, ms to the microsecond; 0 without requests. */
  avgMs(): number {
    return this.requests > 0 ? round3(this.durationSumMs / this.requests) : 0;
  }
}
