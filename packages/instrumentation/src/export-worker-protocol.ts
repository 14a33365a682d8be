import type { UserUsage } from '@otel-bandwidth/core';
import type { ExporterStats } from '@otel-bandwidth/exporter';
import type { ExportPipelineOptions } from './export-pipeline';
import type { PackedTablesSnapshot } from './packed-snapshot';

/** Marks the preload's export worker, so that the preload, run again in it by --require, stays out. */
export const EXPORT_WORKER_MARK = 'otelBandwidthExportWorker';

export interface ExportWorkerData {
  [EXPORT_WORKER_MARK]: true;
  pipeline: ExportPipelineOptions;
  /** where the worker answers 'stats' (see StatsExchange) */
  stats: SharedArrayBuffer;
}

/**
 * What the app's thread waits for synchronously (Atomics.wait, bounded), answered in a shared
 * buffer: word 0 is the number of the request answered, word 1 the length in bytes of what
 * follows. A 'stats' request is answered with the exporter's counters as JSON; an 'exit' request
 * when the last export has ended, with nothing.
 */
export const STATS_BUFFER_BYTES = 8 + 16_384;
export const STATS_HEADER_WORDS = 2;
/**
 * Word 0 once the worker's thread is ending (its `exit` event: an uncaught exception, or the
 * thread's own end): nothing will be answered any more, and whoever waits stops waiting. The app's
 * thread sees the worker's end as an event of its own loop, which a blocked thread (an exiting
 * one: exportAtExit) does not run.
 */
export const WORKER_GONE = -1;

/** The app's thread to the export worker. */
export type ToExportWorker =
  | { type: 'collected'; id: number; snapshot: PackedTablesSnapshot; users: UserUsage[] }
  | { type: 'flush'; id: number }
  | { type: 'shutdown'; id: number }
  | { type: 'stats'; id: number }
  /**
   * The app's thread is exiting (process.exit(), an uncaught exception) and waits, blocked: the
   * last of its tables comes with the message, since it can no longer answer a 'collect'.
   */
  | { type: 'exit'; id: number; snapshot: PackedTablesSnapshot; users: UserUsage[] };

/** The export worker to the app's thread. */
export type FromExportWorker =
  | { type: 'collect'; id: number }
  | { type: 'done'; id: number; error?: string }
  | { type: 'stats'; stats: ExporterStats };
