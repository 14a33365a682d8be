import path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { ExporterStats } from '@otel-bandwidth/exporter';
import type { BandwidthInstrumentation } from './bandwidth-instrumentation';
import type { ExportPipelineOptions } from './export-pipeline';
import {
  EXPORT_WORKER_MARK,
  STATS_BUFFER_BYTES,
  STATS_HEADER_WORDS,
  WORKER_GONE,
  type ExportWorkerData,
  type FromExportWorker,
  type ToExportWorker,
} from './export-worker-protocol';

/** The worker's young generation, in MB (by default V8 lets it grow to tens of MB). */
const WORKER_YOUNG_GENERATION_MB = 2;

/** How long stats() waits for the worker's answer before it returns the counters last sent. */
const STATS_WAIT_MILLIS = 1000;

const BEFORE_FIRST_WORD: Readonly<ExporterStats> = {
  batchesExported: 0,
  pointsExported: 0,
  retries: 0,
  resends: 0,
  pointsPending: 0,
  pointsDropped: 0,
  usersDropped: 0,
  failuresInARow: 0,
  retryDelayMillis: undefined,
  lastError: undefined,
};

export interface ExportWorkerHandle {
  /** Collects and exports now. */
  forceFlush(): Promise<void>;
  /** Exports what is left and releases Redis; the worker then ends. */
  shutdown(): Promise<void>;
  /**
   * The exporter's counters now: asked of the worker, which answers within a millisecond unless
   * it is busy exporting; past STATS_WAIT_MILLIS, the ones it last sent (all zero before its
   * first word). Blocks this thread while it waits: for diagnostics, not for the request path.
   */
  stats(): ExporterStats;
  /**
   * For a process that is exiting without its event loop (process.exit(), an uncaught
   * exception): hands the worker what the tables hold and blocks this thread until the worker
   * has exported it and what it held, or `deadlineMillis` pass. Does nothing once shut down.
   */
  exportAtExit(deadlineMillis: number): void;
}

/**
 * Starts the export worker (export-worker.ts) for an instrumentation recording in this thread,
 * and answers its collections from the instrumentation's tables. The worker never keeps the
 * process alive; if it fails, `onFailure` is told once and the app runs on unmeasured.
 */
export function startExportWorker(
  instrumentation: BandwidthInstrumentation,
  pipeline: ExportPipelineOptions,
  onFailure: (reason: string) => void,
): ExportWorkerHandle {
  const statsBuffer = new SharedArrayBuffer(STATS_BUFFER_BYTES);
  const statsHeader = new Int32Array(statsBuffer, 0, STATS_HEADER_WORDS);
  const statsBytes = new Uint8Array(statsBuffer, STATS_HEADER_WORDS * 4);
  const data: ExportWorkerData = { [EXPORT_WORKER_MARK]: true, pipeline, stats: statsBuffer };
  // no --require/--import of the app's: the preload would start again inside the worker. A small
  // young generation: V8 otherwise grows it with each export's short-lived data and keeps it
  // (bench:export-stall at 1,990 series: about 15 MB less RSS at 4 MB, 2 MB less again at 2 MB,
  // the app's thread's figures unchanged; the worker collects more often)
  const worker = new Worker(path.join(__dirname, 'export-worker.js'), {
    workerData: data,
    execArgv: [],
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });

  let nextId = 1;
  const waiting = new Map<number, { resolve: () => void; reject: (err: Error) => void }>();
  let lastStats: ExporterStats | undefined;
  let failed: string | undefined;
  const fail = (reason: string): void => {
    if (failed !== undefined) return;
    failed = reason;
    for (const w of waiting.values()) w.reject(new Error(reason));
    waiting.clear();
    onFailure(reason);
  };
  const send = (message: ToExportWorker): void => worker.postMessage(message);
  const ask = (type: 'flush' | 'shutdown'): Promise<void> => {
    if (failed !== undefined) return Promise.reject(new Error(failed));
    return new Promise<void>((resolve, reject) => {
      const id = nextId++;
      waiting.set(id, { resolve, reject });
      send({ type, id });
    });
  };

  let ending = false;
  worker.on('message', (message: FromExportWorker) => {
    // runs in the app's thread: nothing may throw out of it
    try {
      onMessage(message);
    } catch (err) {
      fail(`the export worker's message could not be handled: ${(err as Error).message}`);
    }
  });
  const onMessage = (message: FromExportWorker): void => {
    switch (message.type) {
      case 'collect': {
        // copied, not transferred: a transfer detaches the numbers' buffers in this thread, and the
        // first ArrayBuffer ever detached in a V8 isolate invalidates its ArrayBufferDetaching
        // protector, which deoptimizes and from then on adds detach checks to every typed-array
        // access of the app's thread, Node's own included (packed-snapshot.ts)
        const snapshot = instrumentation.drainTablesPacked();
        worker.postMessage({ type: 'collected', id: message.id, snapshot, users: instrumentation.collectUserUsage() } satisfies ToExportWorker);
        break;
      }
      case 'stats':
        lastStats = message.stats;
        break;
      case 'done': {
        const w = waiting.get(message.id);
        waiting.delete(message.id);
        if (message.error === undefined) w?.resolve();
        else w?.reject(new Error(message.error));
        break;
      }
    }
  };
  worker.on('error', (err: Error) => fail(`the export worker failed: ${err.message}`));
  worker.on('exit', (code: number) => {
    if (!ending) fail(`the export worker exited (code ${code})`);
  });

  // last: a 'message' listener added to an unref'd worker refs it again
  worker.unref();

  /**
   * Blocks until the worker has answered request `id` in the shared buffer, or `millis` pass, or
   * the worker's thread has ended (WORKER_GONE).
   */
  const awaitAnswer = (id: number, millis: number): boolean => {
    const deadline = Date.now() + millis;
    for (let seen = Atomics.load(statsHeader, 0); seen !== id; seen = Atomics.load(statsHeader, 0)) {
      if (seen === WORKER_GONE) return false;
      const left = deadline - Date.now();
      if (left <= 0 || Atomics.wait(statsHeader, 0, seen, left) === 'timed-out') return Atomics.load(statsHeader, 0) === id;
    }
    return true;
  };

  let stopped: Promise<void> | undefined;
  /** the worker has answered 'shutdown' (or failed to): nothing is left for exportAtExit */
  let stopEnded = false;
  return {
    forceFlush: () => ask('flush'),
    shutdown: () => {
      stopped ??= ask('shutdown').finally(() => {
        stopEnded = true;
        ending = true;
        void worker.terminate();
      });
      return stopped;
    },
    stats: () => {
      const id = nextId++;
      if (failed === undefined && !ending) {
        send({ type: 'stats', id });
        if (awaitAnswer(id, STATS_WAIT_MILLIS)) {
          // copied out of the shared memory first: TextDecoder does not read a shared buffer
          const text = Buffer.from(statsBytes.subarray(0, Atomics.load(statsHeader, 1))).toString('utf8');
          try {
            lastStats = { ...BEFORE_FIRST_WORD, ...(JSON.parse(text) as Partial<ExporterStats>) };
          } catch {
            // cut short by the buffer's size (a very long lastError): the counters last pushed
          }
        }
      }
      return { ...(lastStats ?? BEFORE_FIRST_WORD) };
    },
    exportAtExit: (deadlineMillis) => {
      if (failed !== undefined || stopEnded) return;
      const id = nextId++;
      try {
        const snapshot = instrumentation.drainTablesPacked();
        const users = instrumentation.collectUserUsage();
        // a worker that has not said a word yet holds nothing: with nothing recorded either, the
        // exit need not wait for it to start
        if (lastStats === undefined && snapshot.server.attributes.length === 0 && snapshot.client.attributes.length === 0 && users.length === 0) return;
        send({ type: 'exit', id, snapshot, users });
      } catch {
        return; // the worker is gone: nothing to wait for
      }
      ending = true;
      awaitAnswer(id, deadlineMillis);
    },
  };
}
