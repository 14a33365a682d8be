/**
 * The zero-code entry point:
 *   node --require @otel-bandwidth/instrumentation/register app.js
 *   node --import @otel-bandwidth/instrumentation/register app.mjs
 * Configured by the environment alone (see the README). A bad configuration logs one warning and
 * the app runs unmeasured; nothing here can stop the app from starting.
 */
import { isMainThread, workerData } from 'node:worker_threads';
import { DiagConsoleLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import type { ExporterStats } from '@otel-bandwidth/exporter';
import { BandwidthInstrumentation, type BandwidthInstrumentationOptions, type BandwidthInstrumentationStats } from './bandwidth-instrumentation';
import { readPreloadConfig } from './environment-config';
import type { ExportPipelineOptions } from './export-pipeline';
import { startExportWorker } from './export-worker-client';
import { EXPORT_WORKER_MARK } from './export-worker-protocol';
import { installShutdownHooks } from './shutdown-hooks';
import { stopOnce } from './stop-once';

const GLOBAL_KEY = Symbol.for('otel-bandwidth.preload');

/**
 * The preload in this process: its hooks record in the app's thread; OpenTelemetry's SDK and the
 * Redis exporter run in a worker thread of their own (export-worker.ts), or beside the hooks in the
 * app's thread with OTEL_BANDWIDTH_EXPORT_WORKER=false and in an app's own worker threads.
 */
export interface PreloadMonitoring {
  readonly instrumentation: BandwidthInstrumentation;
  /** Collects and exports now. */
  forceFlush(): Promise<void>;
  /** Stops recording, exports what is left, and releases Redis. */
  shutdown(): Promise<void>;
  /** The exporter's counters. */
  exporterStats(): ExporterStats;
  /**
   * With the export worker only: exports what is left while the process exits without its event
   * loop (process.exit(), an uncaught exception), blocking the exit for at most `deadlineMillis`.
   */
  exportAtExit?(deadlineMillis: number): void;
}

type GlobalWithPreload = typeof globalThis & { [GLOBAL_KEY]?: PreloadMonitoring | null };

/** Inside the preload's own export worker, which --require would otherwise load it into. */
function inExportWorker(): boolean {
  return !isMainThread && typeof workerData === 'object' && workerData !== null && (workerData as Record<string, unknown>)[EXPORT_WORKER_MARK] === true;
}

/** The SDK, exporter and Redis client in this thread, beside the app (OTEL_BANDWIDTH_EXPORT_WORKER=false). */
function monitorInThisThread(recording: BandwidthInstrumentationOptions, pipeline: ExportPipelineOptions): PreloadMonitoring {
  // required here, not imported: with the export worker, this thread never loads the SDK
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { startBandwidthMonitoring } = require('./bandwidth-monitoring') as typeof import('./bandwidth-monitoring');
  const monitoring = startBandwidthMonitoring({ ...recording, ...pipeline });
  return {
    instrumentation: monitoring.instrumentation,
    forceFlush: () => monitoring.forceFlush(),
    shutdown: () => monitoring.shutdown(),
    exporterStats: () => monitoring.exporter.stats(),
  };
}

/**
 * The SDK, exporter and Redis client in a worker thread (the default): the app's thread keeps the
 * hooks and records, and at each collection only drains them into a pack for the worker
 * (bench:export-stall). Where no worker can be started, in this thread after all.
 */
function monitorWithExportWorker(recording: BandwidthInstrumentationOptions, pipeline: ExportPipelineOptions): PreloadMonitoring {
  const instrumentation = new BandwidthInstrumentation(recording);
  let worker: ReturnType<typeof startExportWorker>;
  try {
    worker = startExportWorker(instrumentation, pipeline, (reason) => {
      instrumentation.disable();
      process.stderr.write(`otel-bandwidth: not measuring this process any longer: ${reason}\n`);
    });
  } catch (err) {
    process.stderr.write(`otel-bandwidth: no export worker (${(err as Error).message}); exporting from the app's thread\n`);
    return monitorInThisThread(recording, pipeline);
  }
  instrumentation.enable();
  return {
    instrumentation,
    forceFlush: () => worker.forceFlush(),
    shutdown: stopOnce(instrumentation, () => worker.shutdown()),
    exporterStats: () => worker.stats(),
    exportAtExit: (deadlineMillis) => worker.exportAtExit(deadlineMillis),
  };
}

function start(): PreloadMonitoring | null {
  if (inExportWorker()) return null;
  const g = globalThis as GlobalWithPreload;
  if (g[GLOBAL_KEY] !== undefined) return g[GLOBAL_KEY]; // loaded twice (--require and --import)
  g[GLOBAL_KEY] = null;
  try {
    const config = readPreloadConfig();
    if (!config.enabled) return null;
    // with OTEL_LOG_LEVEL set, the app's own OpenTelemetry setup installs the diag logger
    if (!process.env.OTEL_LOG_LEVEL) diag.setLogger(new DiagConsoleLogger(), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    const pipeline = {
      ...(config.serviceName ? { serviceName: config.serviceName } : {}),
      exportIntervalMillis: config.exportIntervalMillis,
      exportTimeoutMillis: config.exportTimeoutMillis,
      exporter: {
        url: config.redisUrl,
        cluster: config.redisCluster,
        keyPrefix: config.keyPrefix,
        maxStreamLength: config.maxStreamLength,
        // one attempt may take as long as an export may, and never longer than an interval
        sendTimeoutMillis: Math.min(config.exportTimeoutMillis, config.exportIntervalMillis),
        retryMaxDelayMillis: config.retryMaxDelayMillis,
        // the exporter gives up a little before the process stops waiting for it, so that what it
        // could not deliver is said (its warning) rather than cut off
        shutdownTimeoutMillis: config.shutdownTimeoutMillis - Math.min(1000, Math.floor(config.shutdownTimeoutMillis / 5)),
      },
    };
    const recording = {
      cardinalityLimit: config.cardinalityLimit,
      maxUsersPerInterval: config.maxUsersPerInterval,
      routeFromOpenTelemetryContext: config.routeFromContext,
      ...(config.userIdHeader ? { userIdHeader: config.userIdHeader } : {}),
    };
    // in an app's own worker thread (which inherits --require/--import), in that thread: an export
    // worker for each of an app's workers would cost each its own V8 isolate
    const monitoring = config.exportWorker && isMainThread ? monitorWithExportWorker(recording, pipeline) : monitorInThisThread(recording, pipeline);
    installShutdownHooks(monitoring, config.shutdownTimeoutMillis);
    g[GLOBAL_KEY] = monitoring;
    return monitoring;
  } catch (err) {
    process.stderr.write(`otel-bandwidth: not measuring this process: ${(err as Error).message}\n`);
    return null;
  }
}

/** What the preload runs, or null when it is off or the configuration was bad. */
export const monitoring = start();

export interface PreloadStats {
  /** batches exported, retries, data points pending and dropped, as the export worker last sent them */
  exporter: ExporterStats;
  /** requests recorded and errors caught inside the instrumentation */
  instrumentation: BandwidthInstrumentationStats;
}

/** The preload's own counters, or undefined when it is not measuring this process. */
export function stats(): PreloadStats | undefined {
  if (!monitoring) return undefined;
  return { exporter: monitoring.exporterStats(), instrumentation: monitoring.instrumentation.stats() };
}
