import { diag } from '@opentelemetry/api';
import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { RedisMetricExporter, type RedisMetricExporterOptions } from '@otel-bandwidth/exporter';
import { BandwidthInstrumentation, type BandwidthInstrumentationOptions } from './bandwidth-instrumentation';

export interface BandwidthMonitoringOptions extends BandwidthInstrumentationOptions {
  /** service.name of the resource. Default: OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, else OTel's default. */
  serviceName?: string;
  /** Milliseconds between exports. Default 5000. */
  exportIntervalMillis?: number;
  exportTimeoutMillis?: number;
  exporter?: RedisMetricExporterOptions;
}

export interface BandwidthMonitoring {
  readonly instrumentation: BandwidthInstrumentation;
  readonly exporter: RedisMetricExporter;
  readonly meterProvider: MeterProvider;
  /** Collects and exports now. */
  forceFlush(): Promise<void>;
  /** Stops recording, exports what is left, and releases Redis. */
  shutdown(): Promise<void>;
}

/**
 * Everything the preload does, for code that wants it programmatically: records the HTTP server,
 * and exports every interval to Redis through a MeterProvider of its own. It never registers a
 * global provider, so it sits beside any OpenTelemetry setup the service already has.
 */
export function startBandwidthMonitoring(options: BandwidthMonitoringOptions = {}): BandwidthMonitoring {
  const instrumentation = new BandwidthInstrumentation(options).enable();
  const exporter = new RedisMetricExporter({ collectUserUsage: instrumentation.collectUserUsage, ...options.exporter });
  const exportIntervalMillis = options.exportIntervalMillis ?? 5000;
  let resource = defaultResource().merge(detectResources({ detectors: [envDetector] }));
  if (options.serviceName) resource = resource.merge(resourceFromAttributes({ 'service.name': options.serviceName }));
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis,
    exportTimeoutMillis: Math.min(options.exportTimeoutMillis ?? 30_000, exportIntervalMillis),
    metricProducers: [instrumentation.metricProducer],
  });
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  let stopped: Promise<void> | undefined;
  return {
    instrumentation,
    exporter,
    meterProvider,
    forceFlush: () => meterProvider.forceFlush(),
    shutdown: () => {
      stopped ??= (async () => {
        instrumentation.disable();
        try {
          await meterProvider.shutdown(); // collects and exports the last interval, then shuts the exporter down
        } catch (err) {
          diag.warn(`otel-bandwidth: shutdown did not complete: ${(err as Error).message}`);
        }
      })();
      return stopped;
    },
  };
}
