export { RedisMetricExporter, STATS_REPORT_INTERVAL_MILLIS, type RedisMetricExporterOptions, type ExporterStats } from './redis-metric-exporter';
export { OTEL_POINTS, resourceMetricsToBatch, resourceMetricsView, toUnsentBatch, toWireAttributes, type OtelPoint } from './resource-metrics-to-batch';
export { MAX_HELD_USERS, mergeInto, mergeUsers, type UnsentBatch } from './batch-merge';
export { parseRedisSeeds, type RedisSeeds } from './redis-client';
