/**
 * Consumer-group reading of the metrics stream: new entries, this consumer's own pending entries
 * (after a restart), entries claimed from dead consumers, dead-lettering, acks and trimming.
 */
import { fieldsFromArray, type RedisKeys, type StreamFields } from '@otel-bandwidth/core';
import type { Cluster, Redis } from 'ioredis';

export interface StreamEntry {
  id: string;
  /** undefined when the entry was trimmed or deleted while pending */
  fields: StreamFields | undefined;
}

type RawEntry = [string, string[] | null];
type RawRead = Array<[string, RawEntry[]]> | null;

function toEntries(raw: RawEntry[] | undefined): StreamEntry[] {
  return (raw ?? []).map(([id, f]) => ({ id, fields: f ? fieldsFromArray(f) : undefined }));
}

/** Compares two stream ids ("ms-seq"). */
export function compareStreamIds(a: string, b: string): number {
  const [am = '0', as = '0'] = a.split('-');
  const [bm = '0', bs = '0'] = b.split('-');
  return Number(am) - Number(bm) || Number(as) - Number(bs);
}

function nextStreamId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  return `${ms}-${Number(seq) + 1}`;
}

const LEAVE_GROUP_IF_IDLE = `
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1`;

export class StreamConsumer {
  private pendingCursor: string | undefined = '0';

  constructor(
    private readonly redis: Redis | Cluster,
    private readonly reader: Redis | Cluster,
    private readonly keys: RedisKeys,
    readonly group: string,
    readonly consumer: string,
  ) {}

  /** Creates the group (reading from the stream's start) unless it exists. */
  async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.keys.stream, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!String((err as Error).message).includes('BUSYGROUP')) throw err;
    }
  }

  /**
   * Leaves the group when this consumer holds no pending entries (a clean stop), so the group's
   * consumers are the live ones. With entries pending it stays: deleting it would drop them from
   * the group's pending list, and another consumer claims them from it instead.
   */
  async leaveGroupIfIdle(): Promise<boolean> {
    try {
      // one script: nothing can be delivered to this consumer's name (another process of the same
      // name, say) between the check and the delete
      return (await this.redis.eval(LEAVE_GROUP_IF_IDLE, 1, this.keys.stream, this.group, this.consumer)) === 1;
    } catch (err) {
      if (String((err as Error).message).includes('NOGROUP')) return false; // never joined
      throw err;
    }
  }

  /** True while this consumer still has entries delivered before it (re)started. */
  get readingOwnPending(): boolean {
    return this.pendingCursor !== undefined;
  }

  /**
   * The next entries: first this consumer's own pending ones (without blocking), then new ones,
   * waiting up to blockMs for them.
   */
  async read(count: number, blockMs: number): Promise<StreamEntry[]> {
    if (this.pendingCursor !== undefined) {
      const raw = (await this.reader.xreadgroup(
        'GROUP', this.group, this.consumer, 'COUNT', count, 'STREAMS', this.keys.stream, this.pendingCursor,
      )) as RawRead;
      const entries = toEntries(raw?.[0]?.[1]);
      if (entries.length === 0) this.pendingCursor = undefined;
      else this.pendingCursor = (entries[entries.length - 1] as StreamEntry).id;
      if (entries.length > 0) return entries;
    }
    const raw = (await this.reader.xreadgroup(
      'GROUP', this.group, this.consumer, 'COUNT', count, 'BLOCK', Math.max(1, Math.round(blockMs)), 'STREAMS', this.keys.stream, '>',
    )) as RawRead;
    return toEntries(raw?.[0]?.[1]);
  }

  /** Takes over entries other consumers left pending for longer than minIdleMs. */
  async claimIdle(minIdleMs: number, count: number): Promise<StreamEntry[]> {
    const out: StreamEntry[] = [];
    let cursor = '0-0';
    for (let rounds = 0; rounds < 100; rounds++) {
      const res = (await this.redis.xautoclaim(this.keys.stream, this.group, this.consumer, minIdleMs, cursor, 'COUNT', count)) as [
        string,
        RawEntry[],
        string[]?,
      ];
      out.push(...toEntries(res[1]));
      // ids deleted from the stream while pending: nothing to apply, only to acknowledge
      for (const id of res[2] ?? []) out.push({ id, fields: undefined });
      cursor = res[0];
      if (cursor === '0-0' || out.length >= count) break;
    }
    return out;
  }

  /** How many times each entry was delivered (entries no longer pending are left out). */
  async deliveryCounts(ids: readonly string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (let i = 0; i < ids.length; i += 500) {
      const pipeline = this.redis.pipeline();
      for (const id of ids.slice(i, i + 500)) pipeline.xpending(this.keys.stream, this.group, id, id, 1);
      for (const [err, rows] of (await pipeline.exec()) ?? []) {
        if (err) throw err;
        const row = (rows as Array<[string, string, number, number]>)[0];
        if (row) counts.set(row[0], Number(row[3]));
      }
    }
    return counts;
  }

  /**
   * Resets the idle time of entries this consumer holds, so no other consumer claims them while
   * they wait for their flush. JUSTID leaves the delivery counts as they are. Entries idle for less
   * than minIdleMs are left alone (another consumer may have just claimed them).
   */
  async touch(ids: readonly string[], minIdleMs: number): Promise<void> {
    for (let i = 0; i < ids.length; i += 1000) {
      await this.redis.xclaim(this.keys.stream, this.group, this.consumer, Math.max(0, Math.floor(minIdleMs)), ...ids.slice(i, i + 1000), 'JUSTID');
    }
  }

  /** The entries with these ids as the stream holds them now (fields undefined: deleted). */
  async fetch(ids: readonly string[]): Promise<StreamEntry[]> {
    const out: StreamEntry[] = [];
    for (let i = 0; i < ids.length; i += 100) {
      const part = ids.slice(i, i + 100);
      const pipeline = this.redis.pipeline();
      for (const id of part) pipeline.xrange(this.keys.stream, id, id);
      const replies = (await pipeline.exec()) ?? [];
      part.forEach((id, j) => {
        const [err, raw] = replies[j] ?? [new Error('no reply'), undefined];
        if (err) throw err;
        const entry = (raw as RawEntry[] | undefined)?.[0];
        out.push({ id, fields: entry?.[1] ? fieldsFromArray(entry[1]) : undefined });
      });
    }
    return out;
  }

  /** When the oldest entry still in the stream was added (ms), or undefined for an empty stream. */
  async oldestEntryMs(): Promise<number | undefined> {
    const first = (await this.redis.xrange(this.keys.stream, '-', '+', 'COUNT', 1)) as RawEntry[];
    const id = first[0]?.[0];
    return id === undefined ? undefined : Number(id.split('-')[0]);
  }

  async ack(ids: readonly string[]): Promise<void> {
    for (let i = 0; i < ids.length; i += 1000) {
      await this.redis.xack(this.keys.stream, this.group, ...ids.slice(i, i + 1000));
    }
  }

  /** Moves an entry to the dead-letter stream with the reason, then acknowledges it. */
  async deadLetter(entry: StreamEntry, reason: string): Promise<void> {
    const copy: string[] = [];
    for (const [k, v] of Object.entries(entry.fields ?? {})) copy.push(`orig.${k}`, v);
    await this.redis.xadd(
      this.keys.deadLetter, 'MAXLEN', '~', '100000', '*',
      'reason', reason, 'stream-id', entry.id, 'group', this.group, 'consumer', this.consumer, ...copy,
    );
    await this.ack([entry.id]);
  }

  /**
   * Deletes entries every group has acknowledged: everything before the oldest pending entry or,
   * with none pending, up to the last delivered one. Unread entries are never trimmed.
   */
  async trimAcknowledged(): Promise<void> {
    const groups = (await this.redis.xinfo('GROUPS', this.keys.stream)) as Array<Array<string | number>>;
    let minId: string | undefined;
    for (const g of groups) {
      const info = new Map<string, string | number>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1] as string | number);
      const name = String(info.get('name'));
      let keepFrom: string;
      if (Number(info.get('pending') ?? 0) > 0) {
        const summary = (await this.redis.xpending(this.keys.stream, name)) as [number, string | null, string | null, unknown];
        keepFrom = summary[1] ?? '0-0';
      } else {
        keepFrom = nextStreamId(String(info.get('last-delivered-id') ?? '0-0'));
      }
      if (minId === undefined || compareStreamIds(keepFrom, minId) < 0) minId = keepFrom;
    }
    if (minId !== undefined && minId !== '0-0') await this.redis.xtrim(this.keys.stream, 'MINID', minId);
  }
}
