import { drainPacked, drainSeries, type PackedTablesSnapshot } from './packed-snapshot';
import type { DrainedSeries, SeriesTable } from './series-table';

/** What one collection drained from the server and client tables, over [startMs, endMs). */
export interface TablesSnapshot {
  startMs: number;
  endMs: number;
  server: DrainedSeries;
  client: DrainedSeries;
}

/**
 * Drains the tables at each collection, each interval starting where the last ended: to be
 * turned into OpenTelemetry's data in this thread, or packed for the thread that exports (the
 * preload's export worker), which has OpenTelemetry's SDK loaded where this thread need not.
 */
export class TablesDrain {
  private lastCollectionMs = Date.now();

  constructor(
    private readonly serverTable: SeriesTable,
    private readonly clientTable?: SeriesTable,
  ) {}

  drain(): TablesSnapshot {
    const [startMs, endMs] = this.nextInterval();
    return { startMs, endMs, server: drainSeries(this.serverTable), client: drainSeries(this.clientTable) };
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
