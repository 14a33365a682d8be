/**
 * A collection's series packed for the hop from the app's thread to the preload's export worker.
 *
 * The plain-data snapshot (series-snapshot.ts) is an object per series, its attributes an object
 * of their own and its buckets an array: cloning that for postMessage took the app's thread 6-21
 * ms a collection at 1,990 series (about 950 KB through V8's serializer), a stall of the app's
 * event loop at every export. Packed, a series' numbers go into one Float64Array whose buffer is
 * transferred, not copied, and its attributes as a JSON string made once per series (cached by
 * the attributes object, which a series keeps for its life): the app's thread then copies only
 * the strings. The worker turns the pack back into plain data (unpackSeries), off the app's thread.
 */
import type { Attributes } from '@otel-bandwidth/core';
import { RECORD_NUMBERS, seriesSnapshotAt, type SeriesRecord, type SeriesTable } from './series-table';
import type { SeriesSnapshot } from './series-snapshot';

/** A series' numbers in a pack: laid out as a record keeps them (series-table.ts). */
const NUMBERS_PER_SERIES = RECORD_NUMBERS;

/** One table's drained series: the i-th series' attributes (JSON) and its numbers at i * NUMBERS_PER_SERIES. */
export interface PackedSeries {
  attributes: string[];
  numbers: Float64Array;
}

/** What one collection drained, packed (see TablesSnapshot for the plain form). */
export interface PackedTablesSnapshot {
  startMs: number;
  endMs: number;
  server: PackedSeries;
  client: PackedSeries;
}

/** Each series' attributes as JSON, made once: a record's attributes object is its own for its life. */
const attributesJson = new WeakMap<Attributes, string>();

function jsonOf(attributes: Attributes): string {
  let json = attributesJson.get(attributes);
  if (json === undefined) {
    json = JSON.stringify(attributes);
    attributesJson.set(attributes, json);
  }
  return json;
}

function pack(rec: SeriesRecord, numbers: Float64Array, at: number): void {
  const values = rec.values;
  const from = rec.at;
  for (let i = 0; i < NUMBERS_PER_SERIES; i++) numbers[at + i] = values[from + i] as number;
}

/** Drains a table (resetting its records, as SeriesTable.drain does) into a pack. */
export function drainPacked(table: SeriesTable | undefined): PackedSeries {
  const attributes: string[] = [];
  // room for every record the table holds: only those with requests are drained
  const numbers = new Float64Array((table?.size ?? 0) * NUMBERS_PER_SERIES);
  table?.drain((rec) => {
    pack(rec, numbers, attributes.length * NUMBERS_PER_SERIES);
    attributes.push(jsonOf(rec.attributes));
  });
  return { attributes, numbers };
}

/** The buffers a pack's postMessage transfers rather than copies. */
export function transferablesOf(snapshot: PackedTablesSnapshot): ArrayBuffer[] {
  return [snapshot.server.numbers.buffer as ArrayBuffer, snapshot.client.numbers.buffer as ArrayBuffer];
}

/**
 * Unpacks a table's series into plain data, in the thread that exports. Attributes parsed once
 * per distinct JSON and kept in `parsed` (bounded by the caller: the series a table can hold).
 */
export function unpackSeries(packed: PackedSeries, parsed: Map<string, Attributes>): SeriesSnapshot[] {
  const out: SeriesSnapshot[] = [];
  const n = packed.numbers;
  for (let i = 0; i < packed.attributes.length; i++) {
    const json = packed.attributes[i] as string;
    let attributes = parsed.get(json);
    if (attributes === undefined) {
      attributes = JSON.parse(json) as Attributes;
      parsed.set(json, attributes);
    }
    out.push(seriesSnapshotAt(attributes, n, i * NUMBERS_PER_SERIES));
  }
  return out;
}
