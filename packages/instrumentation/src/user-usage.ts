import { diag } from '@opentelemetry/api';
import type { UserUsage } from '@otel-bandwidth/core';

/** How often, at most, a table that keeps dropping users says so. */
const DROP_WARNING_INTERVAL_MS = 3_600_000;

/**
 * Per-user requests and bytes since the last export. User ids never become metric attributes:
 * they travel beside the metrics so the aggregator can count unique users and rank users by
 * bandwidth. At most `limit` users are kept per interval; the rest are counted as dropped, and
 * OpenTelemetry's diag logger is told so at the first drop and then at most once an hour.
 */
export class UserUsageTable {
  private users = new Map<string, UserUsage>();
  /** requests whose user was not kept: their interval already had `limit` users */
  droppedUsers = 0;
  private lastDropWarningMs = -Infinity;

  constructor(readonly limit: number) {}

  add(id: string, inboundBytes: number, outboundBytes: number): void {
    let u = this.users.get(id);
    if (u === undefined) {
      if (this.users.size >= this.limit) {
        this.droppedUsers++;
        this.warnOfDrops();
        return;
      }
      u = { id, requests: 0, inboundBytes: 0, outboundBytes: 0 };
      this.users.set(id, u);
    }
    u.requests++;
    u.inboundBytes += inboundBytes;
    u.outboundBytes += outboundBytes;
  }

  private warnOfDrops(): void {
    const now = Date.now();
    if (now - this.lastDropWarningMs < DROP_WARNING_INTERVAL_MS) return;
    this.lastDropWarningMs = now;
    diag.warn(
      `otel-bandwidth: more than ${this.limit} users in one export interval; the usage of the others is not recorded ` +
        `(${this.droppedUsers} of their requests unrecorded so far). Raise OTEL_BANDWIDTH_MAX_USERS_PER_INTERVAL, or export more often.`,
    );
  }

  /** The interval's usage; the table starts empty again. */
  drain(): UserUsage[] {
    if (this.users.size === 0) return [];
    const out = [...this.users.values()];
    this.users = new Map();
    return out;
  }
}
