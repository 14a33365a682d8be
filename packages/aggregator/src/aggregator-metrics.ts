import { ConfigError, processMetricFamilies, type MetricFamily } from '@otel-bandwidth/core';
import type { AggregatorStats } from './aggregator';
import type { AlertMonitorStats } from './alert-monitor';
import type { MetricsListen } from './aggregator-config';
import { startMetricsServer, type MetricsServer } from './metrics-server';

const counter = (name: string, help: string, value: number): MetricFamily => ({ name, help, type: 'counter', samples: [{ value }] });
const gauge = (name: string, help: string, value: number | undefined): MetricFamily => ({
  name,
  help,
  type: 'gauge',
  samples: value === undefined ? [] : [{ value }],
});

/**
 * An aggregator's own counters (AggregatorStats, since the process started) as Prometheus
 * families; `nowMs` is this process's clock, which stamped the last flush.
 */
export function aggregatorMetricFamilies(stats: AggregatorStats, nowMs: number): MetricFamily[] {
  const p = 'otel_bandwidth_aggregator_';
  return [
    counter(`${p}entries_read_total`, 'Stream entries this aggregator read, claimed ones and ones delivered again included.', stats.entriesRead),
    counter(`${p}batches_applied_total`, 'Batches this aggregator applied to MySQL.', stats.batchesApplied),
    counter(
      `${p}duplicate_batches_total`,
      'Batches this aggregator read that were applied already (the ledger had them, or the same flush held them twice): acknowledged, not applied again.',
      stats.duplicateBatches,
    ),
    counter(
      `${p}entries_dead_lettered_total`,
      'Entries this aggregator moved to the dead-letter stream: undecodable, delivered too often, or older than the retention.',
      stats.deadLettered,
    ),
    counter(`${p}points_refused_total`, 'Data points of applied batches left out because the columns cannot hold their values (see the log).', stats.pointsRefused),
    counter(`${p}points_ignored_total`, 'Data points of applied batches of metrics that are not stored (other metric names, cumulative data).', stats.pointsIgnored),
    counter(`${p}flushes_total`, 'Flushes this aggregator committed to MySQL and acknowledged.', stats.flushes),
    counter(
      `${p}failed_flushes_total`,
      "Rounds of this aggregator's read-and-flush loop that failed (Redis or MySQL refused or did not answer); what they held is tried again.",
      stats.failedFlushes,
    ),
    counter(`${p}rows_expired_total`, 'Hourly rows, resolved alerts and batch ledger ids this aggregator deleted past their retention.', stats.rowsExpired),
    gauge(`${p}entries_buffered`, 'Entries this aggregator read and has not flushed yet (buffered, or in a flush that runs or failed).', stats.entriesBuffered),
    gauge(
      `${p}last_flush_age_seconds`,
      'Seconds since this aggregator last committed a flush; left out before its first.',
      stats.lastFlushMs === undefined ? undefined : Math.max(0, nowMs - stats.lastFlushMs) / 1000,
    ),
    gauge(
      `${p}last_flush_timestamp_seconds`,
      'When this aggregator last committed a flush, in seconds since the epoch; left out before its first.',
      stats.lastFlushMs === undefined ? undefined : stats.lastFlushMs / 1000,
    ),
  ];
}

/**
 * The alert monitor's counters (AlertMonitorStats, since the process started): rounds count only
 * those in which this aggregator held the lease and evaluated the rules.
 */
export function alertMonitorMetricFamilies(stats: AlertMonitorStats): MetricFamily[] {
  const p = 'otel_bandwidth_alert_';
  return [
    counter(`${p}rounds_total`, 'Rounds in which this aggregator held the alert lease and evaluated the rules.', stats.rounds),
    counter(`${p}failed_rounds_total`, 'Alert rounds that failed (Redis or MySQL refused or did not answer); alerts were left as they were.', stats.failedRounds),
    counter(`${p}realtime_hashes_read_total`, 'Minute hashes of the realtime view this aggregator read to evaluate the rules (each once: settled minutes are kept).', stats.minutesRead),
    counter(`${p}opened_total`, 'Alerts this aggregator opened.', stats.opened),
    counter(`${p}resolved_total`, 'Alerts this aggregator resolved.', stats.resolved),
    counter(`${p}notifications_total`, 'Webhook calls this aggregator made that the webhook accepted.', stats.notified),
    counter(`${p}failed_notifications_total`, 'Webhook calls that failed; the change is told again at a later round.', stats.failedNotifications),
  ];
}

/** What serveAggregatorMetrics reads at each scrape. */
export interface AggregatorStatsSource {
  stats(): AggregatorStats;
}

/**
 * Serves the aggregator's counters and the process basics on GET /metrics at `listen` (the
 * `aggregator` command does, with OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT). A port it cannot
 * listen on is a ConfigError naming the variables.
 */
export async function serveAggregatorMetrics(
  aggregator: AggregatorStatsSource,
  listen: MetricsListen,
  /** the alert monitor's counters, when this aggregator runs one (it starts after the server) */
  alerts: () => AlertMonitorStats | undefined = () => undefined,
): Promise<MetricsServer> {
  try {
    return await startMetricsServer(listen, () => {
      const alertStats = alerts();
      return [
        ...aggregatorMetricFamilies(aggregator.stats(), Date.now()),
        ...(alertStats === undefined ? [] : alertMonitorMetricFamilies(alertStats)),
        ...processMetricFamilies(),
      ];
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'EADDRINUSE' ? 'EADDRINUSE: another process listens there' : code === 'EADDRNOTAVAIL' ? 'EADDRNOTAVAIL: not an address of this host' : (code ?? (err as Error).message);
    throw new ConfigError([
      `OTEL_BANDWIDTH_AGGREGATOR_METRICS_HOST=${listen.host} OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT=${listen.port}: cannot listen there for GET /metrics (${why})`,
    ]);
  }
}
