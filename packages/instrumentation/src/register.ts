/**
 * The zero-code entry point:
 *   node --require @otel-bandwidth/instrumentation/register app.js
 *   node --import @otel-bandwidth/instrumentation/register app.mjs
 * Configured by the environment alone (see the README). A bad configuration logs one warning and
 * the app runs unmeasured; nothing here can stop the app from starting.
 */
import { DiagConsoleLogger, DiagLogLevel, diag } from '@opentelemetry/api';
import type { ExporterStats } from '@otel-bandwidth/exporter';
import type { BandwidthInstrumentationStats } from './bandwidth-instrumentation';
import { startBandwidthMonitoring, type BandwidthMonitoring } from './bandwidth-monitoring';
import { readPreloadConfig } from './environment-config';
import { installShutdownHooks } from './shutdown-hooks';

const GLOBAL_KEY = Symbol.for('otel-bandwidth.preload');
type GlobalWithPreload = typeof globalThis & { [GLOBAL_KEY]?: BandwidthMonitoring | null };

function start(): BandwidthMonitoring | null {
  const g = globalThis as GlobalWithPreload;
  if (g[GLOBAL_KEY] !== undefined) return g[GLOBAL_KEY]; // loaded twice (--require and --import)
  g[GLOBAL_KEY] = null;
  try {
    const config = readPreloadConfig();
    if (!config.enabled) return null;
    // with OTEL_LOG_LEVEL set, the app's own OpenTelemetry setup installs the diag logger
    if (!process.env.OTEL_LOG_LEVEL) diag.setLogger(new DiagConsoleLogger(), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    const monitoring = startBandwidthMonitoring({
      ...(config.serviceName ? { serviceName: config.serviceName } : {}),
      exportIntervalMillis: config.exportIntervalMillis,
      exportTimeoutMillis: config.exportTimeoutMillis,
      cardinalityLimit: config.cardinalityLimit,
      maxUsersPerInterval: config.maxUsersPerInterval,
      routeFromOpenTelemetryContext: config.routeFromContext,
      ...(config.userIdHeader ? { userIdHeader: config.userIdHeader } : {}),
      exporter: {
        url: config.redisUrl,
        cluster: config.redisCluster,
        keyPrefix: config.keyPrefix,
        maxStreamLength: config.maxStreamLength,
        // one attempt may take as long as an export may, and never longer than an interval
        sendTimeoutMillis: Math.min(config.exportTimeoutMillis, config.exportIntervalMillis),
        retryMaxDelayMillis: config.retryMaxDelayMillis,
        shutdownTimeoutMillis: config.shutdownTimeoutMillis,
      },
    });
    installShutdownHooks({ forceFlush: () => monitoring.forceFlush(), shutdown: () => monitoring.shutdown() }, config.shutdownTimeoutMillis);
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
  /** batches exported, retries, data points pending and dropped */
  exporter: ExporterStats;
  /** requests recorded and errors caught inside the instrumentation */
  instrumentation: BandwidthInstrumentationStats;
}

/** The preload's own counters, or undefined when it is not measuring this process. */
export function stats(): PreloadStats | undefined {
  if (!monitoring) return undefined;
  return { exporter: monitoring.exporter.stats(), instrumentation: monitoring.instrumentation.stats() };
}
