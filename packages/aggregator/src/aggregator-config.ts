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
}


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
  r.done();
  return config;
}
