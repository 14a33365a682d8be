/**
 * A collection's series packed for the hop from the app's thread to the preload's export worker.
 *
 * The plain-data snapshot (series-snapshot.ts) is an object per series, its attributes an object
 * of their own and its buckets an array: cloning that for postMessage took the app's thread 6-21
 * ms a collection at 1,990 series (about 950 KB through V8's serializer), a stall of the app's
 * event loop at every export. Packed, a series' numbers go into one Float64Array, which
 * postMessage copies as one block of bytes (430 KB at 1,990 series), and its attributes as a JSON
 * string made once per series (cached by the attributes object, which a series keeps for its
 * life). The buffer is copied, not transferred: transferring detaches it in the app's thread, and
 * the first detached ArrayBuffer of an isolate invalidates V8's ArrayBufferDetaching protector,
 * after which every typed-array access in the thread, Node's own (Buffers, hrtime, async hooks'
 * fields, streams) included, is compiled with a detach check: that cost the app's requests more
 * than the copy saved. In the worker the numbers are read where they arrived (unpackSeries: the
 * attributes parsed, once per series), and the in-thread collection reads its own drain the same
 * way (drainSeries).
 */
import { attributesJson, type Attributes } from '@otel-bandwidth/core';
import { DrainedSeries, RECORD_NUMBERS, type SeriesRecord, type SeriesTable } from './series-table';

/** A series' numbers in a pack: laid out as a record keeps them (series-table.ts). */
const NUMBERS_PER_SERIES = RECORD_NUMBERS;

/** One table's drained series: the i-th series' attributes (JSON) and its numbers at i * NUMBERS_PER_SERIES. */
export interface PackedSeries {
  attributes: string[];
  numbers: Float64Array;
}

/** What one collection drained, packed (see TablesSnapshot for the form read where it is collected). */
export interface PackedTablesSnapshot {
  startMs: number;
  endMs: number;
  server: PackedSeries;
  client: PackedSeries;
}

function pack(rec: SeriesRecord, numbers: Float64Array, at: number): void {
  numbers.set(rec.values, at);
}

/**
 * Drains a table (resetting its records, as SeriesTable.drain does): the numbers of the records
 * that saw requests, one after another in one array, and what `label` gives for each.
 */
function drainNumbers<T>(table: SeriesTable | undefined, label: (rec: SeriesRecord) => T): { labels: T[]; numbers: Float64Array } {
  const labels: T[] = [];
  // room for every record the table holds: only those with requests are drained
  const numbers = new Float64Array((table?.size ?? 0) * NUMBERS_PER_SERIES);
  table?.drain((rec) => {
    pack(rec, numbers, labels.length * NUMBERS_PER_SERIES);
    labels.push(label(rec));
  });
  return { labels, numbers };
}

/** Drains a table into a pack, for another thread. */
export function drainPacked(table: SeriesTable | undefined): PackedSeries {
  const { labels, numbers } = drainNumbers(table, (rec) => attributesJson(rec.attributes));
  return { attributes: labels, numbers };
}

/** Drains a table for a collection in this thread. */
export function drainSeries(table: SeriesTable | undefined): DrainedSeries {
  const { labels, numbers } = drainNumbers(table, (rec) => rec.attributes);
  return new DrainedSeries(labels, numbers);
}

/**
 * A pack's series where they arrived, in the thread that exports: the numbers read in place,
 * the attributes parsed once per distinct JSON and kept in `parsed` (bounded by the caller: the
 * series a table can hold).
 */
export function unpackSeries(packed: PackedSeries, parsed: Map<string, Attributes>): DrainedSeries {
  const attributes: Attributes[] = new Array<Attributes>(packed.attributes.length);
  for (let i = 0; i < packed.attributes.length; i++) {
    const json = packed.attributes[i] as string;
    let a = parsed.get(json);
    if (a === undefined) {
      a = JSON.parse(json) as Attributes;
      parsed.set(json, a);
    }
    attributes[i] = a;
  }
  return new DrainedSeries(attributes, packed.numbers);
}
