/**
 * The rows of a JSON answer as CSV (RFC 4180: CRLF line ends, a header line, a cell quoted when it
 * holds a comma, a quote or a line break, quotes doubled), for `?format=csv`: a spreadsheet or a
 * script reads the hourly rows, the endpoints or the users without a JSON step.
 *
 * Routes and user ids come from the traffic a service received, so a cell could start with what
 * a spreadsheet takes for a formula (`=HYPERLINK(...)`): such a text cell is prefixed with `'`,
 * as OWASP advises against CSV injection. Numbers are written as they are.
 */
import type { FastifyReply } from 'fastify';

const FORMULA_START = /^[=+\-@\t\r]/;
const NEEDS_QUOTES = /[",\r\n]/;

export function csvCell(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  let text = String(value);
  if (FORMULA_START.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** A header line of `columns`, then one line per row with those fields in that order. */
export function toCsv<T extends object>(columns: readonly (keyof T & string)[], rows: readonly T[]): string {
  const lines = [columns.map(csvCell).join(',')];
  for (const row of rows) lines.push(columns.map((c) => csvCell(row[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** Sends rows as a CSV download named `otel-bandwidth-<name>.csv`. */
export function sendCsv<T extends object>(reply: FastifyReply, name: string, columns: readonly (keyof T & string)[], rows: readonly T[]): FastifyReply {
  return reply
    .type('text/csv; charset=utf-8')
    .header('content-disposition', `attachment; filename="otel-bandwidth-${name}.csv"`)
    .send(toCsv(columns, rows));
}

/** The fields of a TypeBox object schema, in their order: the CSV's columns come from the schema the JSON answer has. */
export function columnsOf<T extends object>(schema: { properties: Record<string, unknown> }): Array<keyof T & string> {
  return Object.keys(schema.properties) as Array<keyof T & string>;
}
