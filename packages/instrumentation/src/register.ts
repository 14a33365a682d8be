/**
 * The zero-code entry point:
 *   node --require @otel-bandwidth/instrumentation/register app.js
 *   node --import @otel-bandwidth/instrumentation/register app.mjs
 * Configured by the environment alone (see the README). A bad configuration logs one warning and
 * the app runs unmeasured; nothing here can stop the app from starting.
 */
import { DiagConsoleLogger, DiagLogLevel, diag } from '@opentelemetry/api';
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
    if (!process.env.OTEL_LOG_LEVEL) diag.setLogger(new DiagConsoleLogger(), { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
    const monitoring = startBandwidthMonitoring({
      ...(config.serviceName ? { serviceName: config.serviceName } : {}),
      exportIntervalMillis: config.exportIntervalMillis,
      exportTimeoutMillis: config.exportTimeoutMillis,
      cardinalityLimit: config.cardinalityLimit,
      maxUsersPerInterval: config.maxUsersPerInterval,
      ...(config.userIdHeader ? { userIdHeader: config.userIdHeader } : {}),
      exporter: { url: config.redisUrl, keyPrefix: config.keyPrefix, maxStreamLength: config.maxStreamLength },
    });
    installShutdownHooks(() => monitoring.shutdown(), config.shutdownTimeoutMillis);
    g[GLOBAL_KEY] = monitoring;
    return monitoring;
  } catch (err) {
    process.stderr.write(`otel-bandwidth: not measuring this process: ${(err as Error).message}\n`);
    return null;
  }
}

export const monitoring = start();
