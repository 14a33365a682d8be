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
 * The exporter's counters, read by the app's thread synchronously: it asks with a 'stats'
 * message and waits (Atomics.wait, bounded) until the worker has written them as JSON into the
 * shared buffer: word 0 is the number of the answer, word 1 its length in bytes, then the bytes.
 */
export const STATS_BUFFER_BYTES = 8 + 16_384;
export const STATS_HEADER_WORDS = 2;

/** The app's thread to the export worker. */
export type ToExportWorker =
  | { type: 'collected'; id: number; snapshot: PackedTablesSnapshot; users: UserUsage[] }
  | { type: 'flush'; id: number }
  | { type: 'shutdown'; id: number }
  | { type: 'stats'; id: number };

/** The export worker to the app's thread. */
export type FromExportWorker =
  | { type: 'collect'; id: number }
  | { type: 'done'; id: number; error?: string }
  | { type: 'stats'; stats: ExporterStats };
