import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import type { RedisMetricExporter } from '@otel-bandwidth/exporter';
import { BandwidthInstrumentation, type BandwidthInstrumentationOptions } from './bandwidth-instrumentation';
import { startExportPipeline, type ExportPipelineOptions } from './export-pipeline';
import { stopOnce } from './stop-once';

export interface BandwidthMonitoringOptions extends BandwidthInstrumentationOptions, ExportPipelineOptions {}

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
  const pipeline = startExportPipeline(instrumentation.metricProducer, instrumentation.collectUserUsage, options);
  const { exporter, meterProvider } = pipeline;
  return {
    instrumentation,
    exporter,
    meterProvider,
    forceFlush: () => meterProvider.forceFlush(),
    // collects and exports the last interval, then shuts the exporter down
    shutdown: stopOnce(instrumentation, () => pipeline.shutdown()),
  };
}
