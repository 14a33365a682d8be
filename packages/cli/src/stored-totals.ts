/**
 * What the pipeline stored for a service, per route, from GET /metrics/hourly: the load test reads
 * it before and after its traffic, and what it sent must equal the difference, exactly. Rows of
 * every hour from one before the test's start on are summed both times, so the difference holds
 * the test's requests even when the service's clock is a little behind or an hour turns during
 * the test, and nothing else that was stored before it started.
 */
import type { HourlyRow } from '@otel-bandwidth/query-api';

const HOUR_MS = 3_600_000;

export interface Totals {
  requests: number;
  /** request body bytes */
  bytesIn: number;
  /** response body bytes */
  bytesOut: number;
  errors: number;
  /** the requests' summed duration, ms */
  durationMs: number;
}

export interface RouteTotals extends Totals {
  method: string;
  endpoint: string;
}

export const zeroTotals = (): Totals => ({ requests: 0, bytesIn: 0, bytesOut: 0, errors: 0, durationMs: 0 });

/** The first hour the load test sums: the hour before the one it starts in. */
export function firstCountedHour(startMs: number): number {
  return Math.floor(startMs / HOUR_MS) * HOUR_MS - HOUR_MS;
}

/** The `hours` parameter of /metrics/hourly that reaches back to `fromHourMs` at `nowMs`. */
export function hoursParameter(fromHourMs: number, nowMs: number): number {
  return Math.max(1, Math.ceil((nowMs - fromHourMs) / HOUR_MS) + 1);
}

const routeKey = (method: string, endpoint: string): string => `${method} ${endpoint}`;

/** Sums rows of hours from `fromHourMs` on, per method and route (protocols together). */
export function totalsByRoute(rows: readonly HourlyRow[], fromHourMs: number): Map<string, RouteTotals> {
  const out = new Map<string, RouteTotals>();
  for (const r of rows) {
    if (Date.parse(r.hour_start) < fromHourMs) continue;
    const key = routeKey(r.method, r.endpoint);
    let t = out.get(key);
    if (t === undefined) {
      t = { method: r.method, endpoint: r.endpoint, ...zeroTotals() };
      out.set(key, t);
    }
    t.requests += r.total_requests;
    t.bytesIn += r.total_inbound;
    t.bytesOut += r.total_outbound;
    t.errors += r.error_count;
    t.durationMs += r.avg_response_time * r.total_requests;
  }
  return out;
}

/** What was added between two readings, per route; routes to which nothing was added are left out. */
export function addedSince(before: ReadonlyMap<string, RouteTotals>, after: ReadonlyMap<string, RouteTotals>): RouteTotals[] {
  const added: RouteTotals[] = [];
  for (const [key, a] of after) {
    const b = before.get(key);
    const d: RouteTotals = {
      method: a.method,
      endpoint: a.endpoint,
      requests: a.requests - (b?.requests ?? 0),
      bytesIn: a.bytesIn - (b?.bytesIn ?? 0),
      bytesOut: a.bytesOut - (b?.bytesOut ?? 0),
      errors: a.errors - (b?.errors ?? 0),
      durationMs: a.durationMs - (b?.durationMs ?? 0),
    };
    if (d.requests !== 0 || d.bytesIn !== 0 || d.bytesOut !== 0) added.push(d);
  }
  return added.sort((x, y) => y.requests - x.requests || x.endpoint.localeCompare(y.endpoint) || x.method.localeCompare(y.method));
}

export function sumTotals(parts: readonly Totals[]): Totals {
  const t = zeroTotals();
  for (const p of parts) {
    t.requests += p.requests;
    t.bytesIn += p.bytesIn;
    t.bytesOut += p.bytesOut;
    t.errors += p.errors;
    t.durationMs += p.durationMs;
  }
  return t;
}
