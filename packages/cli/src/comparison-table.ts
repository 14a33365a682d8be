export interface Figures {
  requests: number;
  bytesIn: number;
  bytesOut: number;
  avgMs: number;
}

export interface ComparisonRow {
  method: string;
  endpoint: string;
  /** what the query API reports */
  api?: Figures;
  /** what the traffic generator counted (bytes in = request bodies it sent, out = bodies it received) */
  client?: Figures;
}

const num = (n: number | undefined): string => (n === undefined ? '-' : n.toLocaleString('en-US'));
const ms = (n: number | undefined): string => (n === undefined ? '-' : n.toFixed(2));

/** Prints the per-endpoint table; returns true when requests and bytes match on every row. */
export function printComparison(rows: ComparisonRow[], out: (line: string) => unknown): boolean {
  rows.sort((a, b) => (b.client?.requests ?? 0) - (a.client?.requests ?? 0) || a.endpoint.localeCompare(b.endpoint));
  const header = ['', 'METHOD', 'ENDPOINT', 'REQUESTS', '(client)', 'BYTES IN', '(client)', 'BYTES OUT', '(client)', 'AVG MS', '(client)'];
  const body = rows.map((r) => {
    const same =
      r.api !== undefined &&
      r.client !== undefined &&
      r.api.requests === r.client.requests &&
      r.api.bytesIn === r.client.bytesIn &&
      r.api.bytesOut === r.client.bytesOut;
    return {
      same,
      cells: [
        same ? '✓' : '✗',
        r.method,
        r.endpoint,
        num(r.api?.requests),
        num(r.client?.requests),
        num(r.api?.bytesIn),
        num(r.client?.bytesIn),
        num(r.api?.bytesOut),
        num(r.client?.bytesOut),
        ms(r.api?.avgMs),
        ms(r.client?.avgMs),
      ],
    };
  });
  const total = (pick: (f: Figures) => number, side: 'api' | 'client'): number => rows.reduce((s, r) => s + (r[side] ? pick(r[side] as Figures) : 0), 0);
  const totals = ['', '', 'all endpoints',
    num(total((f) => f.requests, 'api')), num(total((f) => f.requests, 'client')),
    num(total((f) => f.bytesIn, 'api')), num(total((f) => f.bytesIn, 'client')),
    num(total((f) => f.bytesOut, 'api')), num(total((f) => f.bytesOut, 'client')), '', ''];
  const all = [header, ...body.map((b) => b.cells), totals];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i <= 2 ? c.padEnd(widths[i] as number) : c.padStart(widths[i] as number))).join('  ').trimEnd();
  out('');
  out('Per endpoint: the query API (from MySQL) beside what the traffic generator counted itself');
  out(line(header));
  for (const b of body) out(line(b.cells));
  out(line(totals));
  out('AVG MS: server time per request from the pipeline; (client) adds the network and the client.');
  return body.every((b) => b.same);
}
