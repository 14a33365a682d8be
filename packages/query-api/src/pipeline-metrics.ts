import type { MetricFamily } from '@otel-bandwidth/core';
import { STALL_AFTER_MS, backlogAgeMs, lastPersistAgeMs, type PipelineState } from './pipeline-state';

/** What one scrape of GET /metrics read; undefined where the store did not answer. */
export interface PipelineScrape {
  /** from Redis */
  pipeline: PipelineState | undefined;
  /** from MySQL: alerts open now */
  openAlerts: number | undefined;
}

const gauge = (name: string, help: string, value: number | undefined): MetricFamily => ({
  name,
  help,
  type: 'gauge',
  samples: value === undefined ? [] : [{ value }],
});

/**
 * The pipeline's health as Prometheus gauges, the same state GET /metrics/status answers with
 * (ages in seconds, to the millisecond). A store that did not answer leaves its gauges out, and
 * `otel_bandwidth_store_up` says which.
 */
export function pipelineMetricFamilies(scrape: PipelineScrape): MetricFamily[] {
  const p = scrape.pipeline;
  const persistAgeMs = p === undefined ? undefined : lastPersistAgeMs(p);
  return [
    {
      name: 'otel_bandwidth_store_up',
      type: 'gauge',
      help: 'Whether the store answered this scrape: 1 yes, 0 no (the gauges read from it are then left out).',
      samples: [
        { labels: { store: 'redis' }, value: p === undefined ? 0 : 1 },
        { labels: { store: 'mysql' }, value: scrape.openAlerts === undefined ? 0 : 1 },
      ],
    },
    gauge(
      'otel_bandwidth_pipeline_healthy',
      'Whether GET /metrics/status says healthy: 1, or warning: 0 (its problems say why).',
      p === undefined ? undefined : p.problems.length === 0 ? 1 : 0,
    ),
    gauge('otel_bandwidth_stream_entries', 'Entries in the metrics stream.', p?.streamLength),
    gauge('otel_bandwidth_stream_pending_entries', 'Entries of the stream delivered to an aggregator and not yet acknowledged.', p?.pending),
    gauge('otel_bandwidth_stream_lag_entries', 'Entries of the stream not yet delivered to the consumer group.', p?.lag),
    gauge(
      'otel_bandwidth_stream_backlog_entries',
      'Entries of the stream not yet applied to MySQL (lag plus pending); status warns from OTEL_BANDWIDTH_STATUS_WARNING_ENTRIES.',
      p?.bufferSize,
    ),
    gauge(
      'otel_bandwidth_stream_oldest_unapplied_age_seconds',
      "Age of the oldest entry of the stream not yet applied, by Redis's clock; 0 when none waits.",
      p === undefined ? undefined : backlogAgeMs(p) / 1000,
    ),
    gauge(
      'otel_bandwidth_stream_oldest_unapplied_timestamp_seconds',
      "When the oldest entry of the stream not yet applied was added, by Redis's clock, in seconds since the epoch; left out when none waits.",
      p?.oldestUnappliedMs === undefined ? undefined : p.oldestUnappliedMs / 1000,
    ),
    gauge('otel_bandwidth_dead_letter_entries', 'Entries in the dead-letter stream: ones no aggregator could apply.', p?.deadLetters),
    gauge(
      'otel_bandwidth_consumer_group_consumers',
      "Consumers in the aggregators' consumer group: the live ones and those that died (one that stops cleanly leaves it).",
      p?.consumers,
    ),
    gauge(
      'otel_bandwidth_consumer_group_active_consumers',
      `Consumers in the aggregators' consumer group that read the stream in the last ${STALL_AFTER_MS / 1000} seconds.`,
      p?.activeConsumers,
    ),
    gauge(
      'otel_bandwidth_last_persist_age_seconds',
      "Seconds since an aggregator last committed a flush to MySQL, against Redis's clock; left out before the first.",
      persistAgeMs === undefined ? undefined : persistAgeMs / 1000,
    ),
    gauge(
      'otel_bandwidth_last_persist_timestamp_seconds',
      "When an aggregator last committed a flush to MySQL, by the aggregator's clock, in seconds since the epoch; left out before the first.",
      p?.lastFlushMs === undefined ? undefined : p.lastFlushMs / 1000,
    ),
    gauge('otel_bandwidth_alerts_open', 'Alerts open now (rows of bandwidth_alerts not resolved).', scrape.openAlerts),
  ];
}
