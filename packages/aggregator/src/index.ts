export {
  Aggregator,
  type AggregatorHooks,
  type AggregatorOptions,
  type AggregatorStats,
  type FlushInfo,
  type HeldEntries,
  type Logger,
  type LogLevel,
} from './aggregator';
export { DEFAULT_METRICS_HOST, readAggregatorConfig, type AggregatorConfig, type MetricsListen } from './aggregator-config';
export { aggregatorMetricFamilies, alertMonitorMetricFamilies, serveAggregatorMetrics, type AggregatorStatsSource } from './aggregator-metrics';
export { startMetricsServer, type MetricsServer } from './metrics-server';
export { BatchRollup, cutText, emptyTotals, storageBucketMap, type BucketedTotals, type Direction, type SeriesKey, type SeriesTotals, type UserHour } from './batch-rollup';
export {
  RollupWriter,
  ledgerEntryOf,
  type FlushResult,
  type LedgerEntry,
  type MergedFlush,
  type MergedFlushResult,
  type RebuiltRollup,
  type RollupWriterOptions,
  type StreamBatch,
} from './rollup-writer';
export {
  DEFAULT_LEDGER_RETENTION_DAYS,
  DEFAULT_RETENTION_CHUNK_ROWS,
  DEFAULT_RETENTION_DAYS,
  DEFAULT_RETENTION_INTERVAL_MS,
  applyRetention,
  hourlyRetentionCutoff,
  ledgerRetentionCutoff,
  type RetentionResult,
  type RetentionRunOptions,
  type RetentionSettings,
  type RetentionTable,
} from './retention';
export { updateRealtimeView } from './realtime-writer';
export { StreamConsumer, compareStreamIds, type StreamEntry } from './stream-consumer';
export { AlertMonitor, type AlertMonitorOptions, type AlertMonitorStats, type AlertRoundResult } from './alert-monitor';
export { AlertNotifier, MAX_REFUSALS, webhookPayload, webhookTarget, type AlertWebhookPayload, type NotifyResult, type NotifyRound } from './alert-notifier';
export { oldestUnappliedEntryMs } from './stream-backlog';
export { formatAlertValue, formatLatency, formatRate, isLatencyMetric } from './alert-format';
export { alertKey, evaluateAlertRules, type AlertCondition, type MinuteSeriesTotals, type MinuteTotals } from './alert-evaluation';
export { LATENCY_QUANTILES } from './latency-alerts';
export {
  ALERT_LATENCY_METRICS,
  ALERT_METRICS,
  ALERT_RATE_METRICS,
  ALERT_SCOPES,
  DEFAULT_MIN_REQUESTS,
  MAX_RULE_SPAN_MINUTES,
  isLatencyRule,
  isRateRule,
  loadAlertRules,
  minutesNeeded,
  parseAlertRules,
  type AlertLatencyMetric,
  type AlertMetric,
  type AlertRateMetric,
  type AlertRule,
  type AlertScope,
  type AnomalyRule,
  type LatencyRule,
  type RateRule,
  type SpikeRule,
  type ThresholdRule,
} from './alert-rules';
