import os from 'node:os';
import { DEFAULT_MYSQL_URL, EnvReader, type Env } from '@otel-bandwidth/core';
import { loadAlertRules, type AlertRule } from './alert-rules';

export interface AggregatorConfig {
  /** one redis:// URL, or with redisCluster the Cluster's seed nodes, comma-separated */
  redisUrl: string;
  /** OTEL_BANDWIDTH_REDIS_CLUSTER: REDIS_URL names Redis Cluster nodes */
  redisCluster: boolean;
  mysqlUrl: string;
  keyPrefix: string;
  group: string;
  consumer: string;
  flushIntervalMs: number;
  flushMaxEntries: number;
  readCount: number;
  claimIdleMs: number;
  maxDeliveries: number;
  /** days of hourly rows kept before today's (UTC); 0 keeps them for ever */
  retentionDays: number;
  /** days an applied batch id stays in the ledger; 0 keeps them for ever */
  ledgerRetentionDays: number;
  /** OTEL_BANDWIDTH_ALERT_RULES: none when unset (no alerts are evaluated) */
  alertRules: AlertRule[];
  /** OTEL_BANDWIDTH_ALERT_WEBHOOK_URL */
  alertWebhookUrl: string | undefined;
  alertIntervalMs: number;
  alertSettleMs: number;
  /**
   * OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT and _HOST: where to serve GET /metrics for Prometheus;
   * undefined when the port is not set (no server)
   */
  metricsListen: MetricsListen | undefined;
}

/** Where the aggregator's metrics server listens. */
export interface MetricsListen {
  host: string;
  /** 0: a port the system picks */
  port: number;
}

export const DEFAULT_METRICS_HOST = '127.0.0.1';


/** Throws a ConfigError naming every bad variable. */
export function readAggregatorConfig(env: Env = process.env): AggregatorConfig {
  const r = new EnvReader(env);
  const redis = r.redis();
  const config: AggregatorConfig = {
    redisUrl: redis.url,
    redisCluster: redis.cluster,
    mysqlUrl: r.url('MYSQL_URL', DEFAULT_MYSQL_URL, ['mysql', 'mariadb']),
    keyPrefix: r.keyPrefix(),
    group: r.string('OTEL_BANDWIDTH_CONSUMER_GROUP', 'aggregators'),
    consumer: r.string('OTEL_BANDWIDTH_CONSUMER_NAME', `${os.hostname()}-${process.pid}`),
    flushIntervalMs: r.int('OTEL_BANDWIDTH_FLUSH_INTERVAL', 5000, { min: 100, max: 600_000 }),
    flushMaxEntries: r.int('OTEL_BANDWIDTH_FLUSH_MAX_ENTRIES', 2000, { min: 1, max: 100_000 }),
    readCount: r.int('OTEL_BANDWIDTH_READ_COUNT', 500, { min: 1, max: 10_000 }),
    claimIdleMs: r.int('OTEL_BANDWIDTH_CLAIM_IDLE', 60_000, { min: 1000 }),
    maxDeliveries: r.int('OTEL_BANDWIDTH_MAX_DELIVERIES', 5, { min: 1, max: 1000 }),
    retentionDays: r.int('OTEL_BANDWIDTH_RETENTION_DAYS', 90, { min: 0, max: 36_500 }),
    ledgerRetentionDays: r.int('OTEL_BANDWIDTH_LEDGER_RETENTION_DAYS', 7, { min: 0, max: 36_500 }),
    alertRules: [],
    alertWebhookUrl: undefined,
    alertIntervalMs: r.int('OTEL_BANDWIDTH_ALERT_INTERVAL', 30_000, { min: 1000, max: 3_600_000 }),
    alertSettleMs: r.int('OTEL_BANDWIDTH_ALERT_SETTLE', 30_000, { min: 0, max: 600_000 }),
    metricsListen: undefined,
  };
  const rules = r.optionalString('OTEL_BANDWIDTH_ALERT_RULES');
  if (rules !== undefined) {
    try {
      config.alertRules = loadAlertRules(rules);
    } catch (err) {
      // the rules' own list, indented under the variable's line
      r.problem((err as Error).message.replace(/\n {2}- /g, '\n      - '));
    }
  }
  if (r.optionalString('OTEL_BANDWIDTH_ALERT_WEBHOOK_URL') !== undefined) {
    config.alertWebhookUrl = r.url('OTEL_BANDWIDTH_ALERT_WEBHOOK_URL', 'https://hooks.example.com/alerts', ['http', 'https']);
    if (config.alertRules.length === 0 && !(rules !== undefined && r.hasProblems())) {
      r.problem(`OTEL_BANDWIDTH_ALERT_WEBHOOK_URL is set but OTEL_BANDWIDTH_ALERT_RULES ${rules === undefined ? 'is not' : 'holds no rule'}: no alert would ever be sent`);
    }
  }
  const metricsPort = r.optionalInt('OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT', { min: 0, max: 65535 });
  const metricsHost = r.optionalString('OTEL_BANDWIDTH_AGGREGATOR_METRICS_HOST');
  if (metricsPort !== undefined) {
    config.metricsListen = { host: metricsHost ?? DEFAULT_METRICS_HOST, port: metricsPort };
  } else if (metricsHost !== undefined && r.optionalString('OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT') === undefined) {
    r.problem('OTEL_BANDWIDTH_AGGREGATOR_METRICS_HOST is set but OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT is not: no metrics server would start (set the port to serve GET /metrics)');
  }
  r.done();
  return config;
}
