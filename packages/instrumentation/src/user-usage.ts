import type { UserUsage } from '@otel-bandwidth/core';

/**
 * Per-user requests and bytes since the last export. User ids never become metric attributes:
 * they travel beside the metrics so the aggregator can count unique users and rank users by
 * bandwidth. At most `limit` users are kept per interval; the rest are counted as dropped.
 */
export class UserUsageTable {
  private users = new Map<string, UserUsage>();
  droppedUsers = 0;

  constructor(readonly limit: number) {}

  add(id: string, inboundBytes: number, outboundBytes: number): void {
    let u = this.users.get(id);
    if (u === undefined) {
      if (this.users.size >= this.limit) {
        this.droppedUsers++;
        return;
      }
      u = { id, requests: 0, inboundBytes: 0, outboundBytes: 0 };
      this.users.set(id, u);
    }
    u.requests++;
    u.inboundBytes += inboundBytes;
    u.outboundBytes += outboundBytes;
  }

  /** The interval's usage; the table starts empty again. */
  drain(): UserUsage[] {
    if (this.users.size === 0) return [];
    const out = [...this.users.values()];
    this.users = new Map();
    return out;
  }
}
