export { BandwidthInstrumentation, type BandwidthInstrumentationOptions, type BandwidthInstrumentationStats } from './bandwidth-instrumentation';
export { BandwidthMetricProducer, INSTRUMENTATION_SCOPE } from './bandwidth-metric-producer';
export { startBandwidthMonitoring, type BandwidthMonitoring, type BandwidthMonitoringOptions } from './bandwidth-monitoring';
export { readPreloadConfig, type PreloadConfig } from './environment-config';
export type { UserIdResolver } from './http-server-recorder';
export { normalisePath, isIdSegment } from './route-normaliser';
export { routeOf } from './route-template';
export { RedisMetricExporter, type RedisMetricExporterOptions } from '@otel-bandwidth/exporter';
