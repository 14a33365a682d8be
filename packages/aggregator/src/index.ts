export { Aggregator, type AggregatorOptions, type AggregatorStats, type Logger, type LogLevel } from './aggregator';
export { readAggregatorConfig, type AggregatorConfig } from './aggregator-config';
export { BatchRollup, emptyTotals, storageBucketMap, type BucketedTotals, type Direction, type SeriesKey, type SeriesTotals, type UserHour } from './batch-rollup';
export { RollupWriter, type FlushResult, type RollupWriterOptions, type StreamBatch } from './rollup-writer';
export { updateRealtimeView } from './realtime-writer';
export { StreamConsumer, compareStreamIds, type StreamEntry } from './stream-consumer';
