import type { Attributes } from '@otel-bandwidth/core';
import { drainPacked, type PackedTablesSnapshot } from './packed-snapshot';
import { seriesSnapshotAt, type SeriesTable } from './series-table';

/** One series' numbers over a collection interval, as plain data (structured-clonable). */
export interface SeriesSnapshot {
  attributes: Attributes;
  count: number;
  durationSumMs: number;
  durationMinMs: number;
  durationMaxMs: number;
  durationBuckets: number[];
  requestBytes: number;
  requestBytesMin: number;
  requestBytesMax: number;
  responseBytes: number;
  responseBytesMin: number;
  responseBytesMax: number;
  requestWireBytes: number;
  responseWireBytes: number;
}

/** What one collection drained from the server and client tables, over [startMs, endMs). */
export interface TablesSnapshot {
  startMs: number;
  endMs: number;
  server: SeriesSnapshot[];
  client: SeriesSnapshot[];
}

function drainToSnapshots(table: SeriesTable | undefined): SeriesSnapshot[] {
  const out: SeriesSnapshot[] = [];
  table?.drain((r) => out.push(seriesSnapshotAt(r.attributes, r.values, r.at)));
  return out;
}

/**
 * Drains the tables at each collection into plain data, each interval starting where the last
 * ended. Plain data so that it can be turned into OpenTelemetry's in this thread, or handed to
 * the thread that exports (the preload's export worker) without OpenTelemetry's SDK loaded here.
 */
export class TablesDrain {
  private lastCollectionMs = Date.now();

  constructor(
    private readonly serverTable: SeriesTable,
    private readonly clientTable?: SeriesTable,
  ) {}

  drain(): TablesSnapshot {
    const [startMs, endMs] = this.nextInterval();
    return { startMs, endMs, server: drainToSnapshots(this.serverTable), client: drainToSnapshots(this.clientTable) };
  }

  /** The same, packed for another thread (packed-snapshot.ts). */
  drainPacked(): PackedTablesSnapshot {
    const [startMs, endMs] = this.nextInterval();
    return { startMs, endMs, server: drainPacked(this.serverTable), client: drainPacked(this.clientTable) };
  }

  private nextInterval(): [number, number] {
    const endMs = Date.now();
    const startMs = this.lastCollectionMs;
    this.lastCollectionMs = endMs;
    return [startMs, endMs];
  }
}
