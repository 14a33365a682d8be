/**
 * The demo's latency table: per endpoint, the percentiles the query API estimates from the
 * stored duration buckets (the server's time, from the request's arrival to the response's end)
 * beside those of the latencies the traffic generator measured itself (exact, nearest rank; they
 * also hold the network and the client's own time, so they run a little higher).
 */
export interface LatencyRow {
  method: string;
  endpoint: string;
  /** p50, p95, p99 from GET /metrics/endpoints, ms */
  api?: { p50: number | null; p95: number | null; p99: number | null };
  /** every latency the generator measured, ms */
  client?: readonly number[];
}

/** The nearest-rank q-quantile of `values` (unsorted); undefined when there are none. */
export function nearestRank(values: readonly number[], q: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const ms = (n: number | null | undefined): string => (n === undefined || n === null ? '-' : n.toFixed(2));

export function printLatency(rows: LatencyRow[], out: (line: string) => unknown): void {
  const header = ['METHOD', 'ENDPOINT', 'P50 MS', '(client)', 'P95 MS', '(client)', 'P99 MS', '(client)'];
  const body = rows.map((r) => {
    const client = r.client ?? [];
    return [
      r.method,
      r.endpoint,
      ms(r.api?.p50),
      ms(nearestRank(client, 0.5)),
      ms(r.api?.p95),
      ms(nearestRank(client, 0.95)),
      ms(r.api?.p99),
      ms(nearestRank(client, 0.99)),
    ];
  });
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i <= 1 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ').trimEnd();
  out('');
  out('Latency per endpoint: the query API (estimated from the stored duration buckets, server time) beside the generator (measured, client time)');
  out(line(header));
  for (const cells of body) out(line(cells));
}
