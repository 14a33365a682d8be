/**
 * The preload's export worker: OpenTelemetry's SDK, the Redis exporter and its connection, in a
 * thread of their own, so that none of their code or heap sits in the app's thread.
 *
 * In the app's thread, the preload's hooks record into its tables; at each collection this
 * worker asks that thread for what the tables hold (plain data, drained there in one go) and
 * turns it into OpenTelemetry's metric data, which its reader hands to the exporter as the
 * in-process setup does. Measured side by side with a bare server (bench/README.md), the
 * exporter's machinery loaded and running in the app's thread with nothing hooked cost requests
 * several percent of CPU that their instruction counts do not show; in a worker, about none.
 */
import { parentPort, workerData } from 'node:worker_threads';
import fs from 'node:fs';
import { format } from 'node:util';
import { DiagConsoleLogger, DiagLogLevel, diag, type DiagLogger } from '@opentelemetry/api';
import type { Attributes, UserUsage } from '@otel-bandwidth/core';
import { SnapshotMetricProducer } from './bandwidth-metric-producer';
import { startExportPipeline } from './export-pipeline';
import { STATS_HEADER_WORDS, WORKER_GONE, type ExportWorkerData, type FromExportWorker, type ToExportWorker } from './export-worker-protocol';
import { unpackSeries, type PackedTablesSnapshot } from './packed-snapshot';
import type { TablesSnapshot } from './series-snapshot';
import { DrainedSeries } from './series-table';

const LOG_LEVELS: Record<string, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

/** How often the worker checks whether the exporter's counters changed, to push them. */
const STATS_PUSH_MILLIS = 1000;

/** A table's drain that found nothing. */
const NO_SERIES = new DrainedSeries([], new Float64Array(0));

/** Parsed series attributes kept: some times the series two default-sized tables hold. */
const MAX_PARSED_ATTRIBUTES = 16_384;

/** A diag logger writing each line to the process's stderr at once (fd 2), as console would. */
function immediateStderrLogger(): DiagLogger {
  const write = (message: string, ...args: unknown[]): void => {
    try {
      fs.writeSync(2, `${format(message, ...args)}\n`);
    } catch {
      // stderr closed: nothing to tell
    }
  };
  return { error: write, warn: write, info: write, debug: write, verbose: write };
}

function logLevelOf(value: string | undefined): DiagLogLevel {
  return LOG_LEVELS[(value ?? '').trim().toLowerCase()] ?? DiagLogLevel.WARN;
}

function run(): void {
  const port = parentPort;
  if (port === null) throw new Error('the export worker runs only as a worker thread');
  const data = workerData as ExportWorkerData;
  // no app setup runs in this thread to install a diag logger: this one, at OTEL_LOG_LEVEL (default warn)
  const logLevel = logLevelOf(process.env.OTEL_LOG_LEVEL);
  diag.setLogger(new DiagConsoleLogger(), { logLevel, suppressOverrideMessage: true });
  // This thread keeps the app's CPU priority. At nice 19 it was starved on a core the app's
  // process shared with another, and then held up the app's thread for tens to hundreds of ms
  // (p99 65-228 ms in 4 of 8 side-by-side rounds, bench:overhead --side-by-side): a starved
  // thread in the middle of something the process shares (its memory map, a lock) makes every
  // thread that needs it wait. The e2e preload-safety test keeps every thread at the app's priority.
  const send = (message: FromExportWorker): void => port.postMessage(message);

  let nextId = 1;
  const collecting = new Map<number, (snapshot: TablesSnapshot) => void>();
  let users: UserUsage[] = [];
  /** series attributes by the JSON the app's thread sends them as (packed-snapshot.ts) */
  const parsedAttributes = new Map<string, Attributes>();
  /**
   * Once the app's thread is exiting ('exit'), it answers no more collections: the first one
   * after gets the tables it sent with the message, any other nothing.
   */
  let exiting = false;
  let exitSnapshot: TablesSnapshot | undefined;
  const takeExitSnapshot = (): TablesSnapshot => {
    const snapshot = exitSnapshot ?? { startMs: Date.now(), endMs: Date.now(), server: NO_SERIES, client: NO_SERIES };
    exitSnapshot = undefined;
    return snapshot;
  };
  const collectFromApp = (): Promise<TablesSnapshot> => {
    if (exiting) return Promise.resolve(takeExitSnapshot());
    return new Promise<TablesSnapshot>((resolve) => {
      const id = nextId++;
      collecting.set(id, resolve);
      send({ type: 'collect', id });
    });
  };
  const takeUsers = (): UserUsage[] => {
    const taken = users;
    users = [];
    return taken;
  };

  const pipeline = startExportPipeline(new SnapshotMetricProducer(collectFromApp), takeUsers, data.pipeline);
  const { exporter, meterProvider } = pipeline;
  let shuttingDown: Promise<void> | undefined;
  const shutdownOnce = (): Promise<void> => (shuttingDown ??= pipeline.shutdown());

  // the exporter's counters, pushed when they change: what the app's thread shows when its
  // synchronous ask (stats()) is not answered in time. Checked each second and after each export:
  // checked every 100 ms, an idle worker used about 6 ms of CPU a second
  let lastStats = '';
  const sendStats = (): void => {
    const stats = exporter.stats();
    const text = JSON.stringify(stats);
    if (text === lastStats) return;
    lastStats = text;
    send({ type: 'stats', stats });
  };
  setInterval(sendStats, STATS_PUSH_MILLIS).unref();
  sendStats();

  const answer = (id: number, work: Promise<void>): void => {
    work.then(
      () => {
        sendStats();
        send({ type: 'done', id });
      },
      (err: unknown) => {
        sendStats();
        send({ type: 'done', id, error: (err as Error)?.message ?? String(err) });
      },
    );
  };

  const statsHeader = new Int32Array(data.stats, 0, STATS_HEADER_WORDS);
  const statsBytes = new Uint8Array(data.stats, STATS_HEADER_WORDS * 4);
  /** Sets word 0 (the request answered, or WORKER_GONE) and wakes whoever waits on it. */
  const publish = (word: number): void => {
    Atomics.store(statsHeader, 0, word);
    Atomics.notify(statsHeader, 0);
  };
  /** Answers a request the app's thread waits for, blocked (export-worker-protocol.ts). */
  const answerWaiting = (id: number, text: string): void => {
    Atomics.store(statsHeader, 1, new TextEncoder().encodeInto(text, statsBytes).written);
    publish(id);
  };
  // an uncaught exception ends this thread through its `exit` event too: an app's thread blocked
  // in its own exit, waiting for an answer, would otherwise wait its whole deadline for nothing
  process.once('exit', () => publish(WORKER_GONE));
  const unpack = (snapshot: PackedTablesSnapshot): TablesSnapshot => {
    // a service whose routes keep changing would grow this without end: past a few times
    // what two tables can hold, start again (each JSON is parsed again once)
    if (parsedAttributes.size > MAX_PARSED_ATTRIBUTES) parsedAttributes.clear();
    return { startMs: snapshot.startMs, endMs: snapshot.endMs, server: unpackSeries(snapshot.server, parsedAttributes), client: unpackSeries(snapshot.client, parsedAttributes) };
  };

  port.on('message', (message: ToExportWorker) => {
    switch (message.type) {
      case 'stats':
        answerWaiting(message.id, JSON.stringify(exporter.stats()));
        break;
      case 'collected': {
        users = users.concat(message.users);
        const resolve = collecting.get(message.id);
        collecting.delete(message.id);
        resolve?.(unpack(message.snapshot));
        break;
      }
      case 'flush':
        answer(message.id, meterProvider.forceFlush());
        break;
      case 'shutdown':
        // collects and exports the last interval, then shuts the exporter down
        answer(message.id, shutdownOnce());
        break;
      case 'exit': {
        // this thread's console goes out through the app's thread, which is blocked now and then
        // gone: what the exporter says from here on (what it could not deliver) is written at once
        diag.setLogger(immediateStderrLogger(), { logLevel, suppressOverrideMessage: true });
        users = users.concat(message.users);
        exiting = true;
        exitSnapshot = unpack(message.snapshot);
        // a collection already asked of the app's thread is answered with what it sent now
        for (const [id, resolve] of collecting) {
          collecting.delete(id);
          resolve(takeExitSnapshot());
        }
        const done = (): void => answerWaiting(message.id, '');
        shutdownOnce().then(done, done);
        break;
      }
    }
  });
}

run();
