import { defaultResource, detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader, type MetricProducer } from '@opentelemetry/sdk-metrics';
import type { UserUsage } from '@otel-bandwidth/core';
import { RedisMetricExporter, type RedisMetricExporterOptions } from '@otel-bandwidth/exporter';

export interface ExportPipelineOptions {
  /** service.name of the resource. Default: OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, else OTel's default. */
  serviceName?: string;
  /** Milliseconds between exports. Default 5000. */
  exportIntervalMillis?: number;
  exportTimeoutMillis?: number;
  exporter?: RedisMetricExporterOptions;
}

export interface ExportPipeline {
  readonly exporter: RedisMetricExporter;
  readonly meterProvider: MeterProvider;
  /**
   * Collects and exports the last interval, then shuts the exporter down, all within the
   * exporter's shutdownTimeoutMillis (its clock started first: the provider flushes the exporter
   * before shutting it down).
   */
  shutdown(): Promise<void>;
}

/**
 * The instrumentation's series, collected every interval through a MeterProvider of its own
 * (never registered as the global one) and exported to Redis: the same in the app's thread
 * (startBandwidthMonitoring) and in the preload's export worker.
 */
export function startExportPipeline(producer: MetricProducer, collectUserUsage: () => UserUsage[], options: ExportPipelineOptions): ExportPipeline {
  const exporter = new RedisMetricExporter({ collectUserUsage, ...options.exporter });
  const exportIntervalMillis = options.exportIntervalMillis ?? 5000;
  let resource = defaultResource().merge(detectResources({ detectors: [envDetector] }));
  if (options.serviceName) resource = resource.merge(resourceFromAttributes({ 'service.name': options.serviceName }));
  const reader = new PeriodicExportingMetricReader({
    exporter,
    exportIntervalMillis,
    exportTimeoutMillis: Math.min(options.exportTimeoutMillis ?? 30_000, exportIntervalMillis),
    metricProducers: [producer],
  });
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  return {
    exporter,
    meterProvider,
    shutdown: () => {
      exporter.startShutdownClock();
      return meterProvider.shutdown();
    },
  };
}
