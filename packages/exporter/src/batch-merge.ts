import {
  attributesKey,
  type Attributes,
  type HistogramMetric,
  type HistogramPoint,
  type Metric,
  type MetricBatch,
  type SumPoint,
  type UserUsage,
} from '@otel-bandwidth/core';

export type UnsentBatch = Omit<MetricBatch, 'batchId'>;

// Attribute sets are never changed once in a batch, and one set is shared by the points of a
// series across metrics: its key is worked out once.
const keys = new WeakMap<object, string>();
function keyOf(a: Attributes): string {
  let k = keys.get(a);
  if (k === undefined) {
    k = attributesKey(a);
    keys.set(a, k);
  }
  return k;
}

function metricKey(m: Metric): string {
  const base = `${m.type}|${m.scope ?? ''}|${m.name}|${m.unit}`;
  return m.type === 'histogram' ? `${base}|${m.temporality}|${m.boundaries.join(',')}` : base;
}

function cloneMetric(m: Metric): Metric {
  if (m.type === 'histogram') {
    return { ...m, boundaries: [...m.boundaries], points: m.points.map((p) => ({ ...p, bucketCounts: [...p.bucketCounts] })) };
  }
  return { ...m, points: m.points.map((p) => ({ ...p })) } as Metric;
}

function mergeHistogramPoint(into: HistogramPoint, p: HistogramPoint): void {
  into.count += p.count;
  into.sum += p.sum;
  if (p.min !== undefined) into.min = into.min === undefined ? p.min : Math.min(into.min, p.min);
  if (p.max !== undefined) into.max = into.max === undefined ? p.max : Math.max(into.max, p.max);
  for (let i = 0; i < into.bucketCounts.length; i++) into.bucketCounts[i] = (into.bucketCounts[i] ?? 0) + (p.bucketCounts[i] ?? 0);
  into.startTimeMs = Math.min(into.startTimeMs, p.startTimeMs);
  into.endTimeMs = Math.max(into.endTimeMs, p.endTimeMs);
}

function mergeValuePoint(into: SumPoint, p: SumPoint, additive: boolean): void {
  into.value = additive ? into.value + p.value : p.endTimeMs >= into.endTimeMs ? p.value : into.value;
  into.startTimeMs = Math.min(into.startTimeMs, p.startTimeMs);
  into.endTimeMs = Math.max(into.endTimeMs, p.endTimeMs);
}

/**
 * Users an unsent batch holds at most: while Redis refuses the stream, each interval's users are
 * merged into it, and a service with many users would otherwise grow it without end.
 */
export const MAX_HELD_USERS = 100_000;

/**
 * Merges a later batch into an unsent one, series by series: counts, sums and bucket counts add,
 * min and max combine, gauges keep the latest value. The result's size is bounded by the number of
 * distinct series, however many intervals were merged, and its users by `userLimit`: returns the
 * users of `later` left out for that. Cumulative points keep the latest value.
 */
export function mergeInto(target: UnsentBatch, later: UnsentBatch, userLimit = MAX_HELD_USERS): number {
  target.startTimeMs = Math.min(target.startTimeMs, later.startTimeMs);
  target.endTimeMs = Math.max(target.endTimeMs, later.endTimeMs);
  target.resource = { ...target.resource, ...later.resource };
  const byKey = new Map<string, Metric>();
  for (const m of target.metrics) byKey.set(metricKey(m), m);
  for (const m of later.metrics) {
    const existing = byKey.get(metricKey(m));
    if (!existing) {
      const copy = cloneMetric(m);
      target.metrics.push(copy);
      byKey.set(metricKey(copy), copy);
      continue;
    }
    const points = new Map<string, HistogramPoint | SumPoint>();
    for (const p of existing.points) points.set(keyOf(p.attributes), p);
    for (const p of m.points) {
      const k = keyOf(p.attributes);
      const into = points.get(k);
      if (existing.type === 'histogram') {
        const hp = p as HistogramPoint;
        if (!into) {
          const copy = { ...hp, bucketCounts: [...hp.bucketCounts] };
          (existing as HistogramMetric).points.push(copy);
          points.set(k, copy);
        } else if (existing.temporality === 'delta') mergeHistogramPoint(into as HistogramPoint, hp);
        else Object.assign(into, { ...hp, bucketCounts: [...hp.bucketCounts] });
      } else {
        const sp = p as SumPoint;
        if (!into) {
          const copy = { ...sp };
          existing.points.push(copy);
          points.set(k, copy);
        } else mergeValuePoint(into as SumPoint, sp, existing.type === 'sum' && existing.temporality === 'delta');
      }
    }
  }
  return later.users && later.users.length > 0 ? addHeldUsers(target, later.users, userLimit) : 0;
}

/**
 * An unsent batch's users by id, kept from one interval to the next: while Redis is down each
 * interval adds its users in time proportional to them, not to the (up to 100,000) held ones.
 */
const heldUsers = new WeakMap<{ users?: UserUsage[] }, { list: UserUsage[]; byId: Map<string, UserUsage> }>();

/** Adds an interval's users to an unsent batch's, at most `limit` in all; returns those left out. */
export function addHeldUsers(target: { users?: UserUsage[] }, users: readonly UserUsage[], limit = MAX_HELD_USERS): number {
  let held = heldUsers.get(target);
  if (held === undefined || held.list !== target.users) {
    // first users of this batch (or its list was replaced): its own copies, indexed once
    const list = (target.users ?? []).map((u) => ({ ...u }));
    held = { list, byId: new Map(list.map((u) => [u.id, u])) };
    target.users = list;
    heldUsers.set(target, held);
  }
  let dropped = 0;
  for (const u of users) {
    const x = held.byId.get(u.id);
    if (x === undefined) {
      if (held.byId.size >= limit) dropped++;
      else {
        const copy = { ...u };
        held.byId.set(u.id, copy);
        held.list.push(copy);
      }
    } else {
      x.requests += u.requests;
      x.inboundBytes += u.inboundBytes;
      x.outboundBytes += u.outboundBytes;
    }
  }
  return dropped;
}

/** Users of `a` and `b` summed by id; ids of `b` new past `limit` users are left out and counted. */
export function mergeUsers(a: readonly UserUsage[], b: readonly UserUsage[], limit = MAX_HELD_USERS): { users: UserUsage[]; dropped: number } {
  const into: { users?: UserUsage[] } = { users: [...a] };
  const dropped = addHeldUsers(into, b, limit);
  return { users: into.users ?? [], dropped };
}

export function countBatchPoints(b: { readonly metrics: ReadonlyArray<{ readonly points: readonly unknown[] }> }): number {
  let n = 0;
  for (const m of b.metrics) n += m.points.length;
  return n;
}
