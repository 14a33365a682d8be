/**
 * The MySQL schema: the one source for the tables. Migrations in ../drizzle are generated from it
 * (`pnpm db:generate`). All times are UTC.
 *
 * The original plan's tables keep their names and columns, so its SQL runs as it is. Added for
 * correctness: the service name in every key, a duration sum from which averages are derived
 * (never an average of averages), one column per duration bucket so percentiles can be computed
 * for any range, and the ledger of applied batches that makes ingestion exactly-once.
 */
import { sql } from 'drizzle-orm';
import {
  bigint,
  date,
  datetime,
  decimal,
  double,
  index,
  int,
  mysqlEnum,
  mysqlTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  varchar,
} from 'drizzle-orm/mysql-core';

export const PROTOCOLS = ['http', 'webrtc'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

const counter = (name: string) => bigint(name, { mode: 'number', unsigned: true }).notNull().default(0);
const milliseconds = (name: string) => decimal(name, { precision: 14, scale: 3, mode: 'number' }).notNull().default(0);
const avgFromSum = sql`(if(\`total_requests\` > 0, \`duration_sum_ms\` / \`total_requests\`, 0))`;

/**
 * Duration bucket columns, in order. Column i counts requests whose duration d satisfies
 * bound[i-1] < d <= bound[i] with bounds DURATION_BOUNDARIES_SECONDS (the last one is +Inf).
 */
export const DURATION_BUCKET_COLUMNS = [
  'duration_le_100us',
  'duration_le_250us',
  'duration_le_500us',
  'duration_le_1ms',
  'duration_le_2500us',
  'duration_le_5ms',
  'duration_le_10ms',
  'duration_le_25ms',
  'duration_le_50ms',
  'duration_le_75ms',
  'duration_le_100ms',
  'duration_le_250ms',
  'duration_le_500ms',
  'duration_le_750ms',
  'duration_le_1s',
  'duration_le_2500ms',
  'duration_le_5s',
  'duration_le_7500ms',
  'duration_le_10s',
  'duration_le_inf',
] as const;
export type DurationBucketColumn = (typeof DURATION_BUCKET_COLUMNS)[number];

/** The columns of an hourly table: metrics_hourly (served) and metrics_client_hourly (called). */
const hourlyColumns = () => ({
  id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
  service: varchar('service', { length: 128 }).notNull().default(''),
  endpoint: varchar('endpoint', { length: 255 }).notNull(),
  method: varchar('method', { length: 16 }).notNull(),
  protocol: mysqlEnum('protocol', PROTOCOLS).notNull().default('http'),
  hourStart: datetime('hour_start', { mode: 'date' }).notNull(),
  totalRequests: counter('total_requests'),
  totalInbound: counter('total_inbound'),
  totalOutbound: counter('total_outbound'),
  durationSumMs: double('duration_sum_ms').notNull().default(0),
  avgResponseTime: decimal('avg_response_time', { precision: 14, scale: 3, mode: 'number' }).generatedAlwaysAs(avgFromSum, {
    mode: 'stored',
  }),
  /** bytes on the wire, headers and framing included (total_inbound/outbound count bodies) */
  totalInboundWire: counter('total_inbound_wire'),
  totalOutboundWire: counter('total_outbound_wire'),
  maxResponseTime: milliseconds('max_response_time'),
  /** null while the row has seen no request (LEAST ignores it through COALESCE) */
  minResponseTime: decimal('min_response_time', { precision: 14, scale: 3, mode: 'number' }),
  errorCount: counter('error_count'),
  successCount: counter('success_count'),
  durationLe100us: counter('duration_le_100us'),
  durationLe250us: counter('duration_le_250us'),
  durationLe500us: counter('duration_le_500us'),
  durationLe1ms: counter('duration_le_1ms'),
  durationLe2500us: counter('duration_le_2500us'),
  /** since migration 0005 (2.5 ms, 5 ms]; in rows written before it, (0, 5 ms] */
  durationLe5ms: counter('duration_le_5ms'),
  durationLe10ms: counter('duration_le_10ms'),
  durationLe25ms: counter('duration_le_25ms'),
  durationLe50ms: counter('duration_le_50ms'),
  durationLe75ms: counter('duration_le_75ms'),
  durationLe100ms: counter('duration_le_100ms'),
  durationLe250ms: counter('duration_le_250ms'),
  durationLe500ms: counter('duration_le_500ms'),
  durationLe750ms: counter('duration_le_750ms'),
  durationLe1s: counter('duration_le_1s'),
  durationLe2500ms: counter('duration_le_2500ms'),
  durationLe5s: counter('duration_le_5s'),
  durationLe7500ms: counter('duration_le_7500ms'),
  durationLe10s: counter('duration_le_10s'),
  durationLeInf: counter('duration_le_inf'),
  createdAt: timestamp('created_at').notNull().defaultNow(),
  updatedAt: timestamp('updated_at').notNull().defaultNow().onUpdateNow(),
});

export const metricsHourly = mysqlTable('metrics_hourly', hourlyColumns(), (t) => [
  uniqueIndex('uq_hourly_series').on(t.service, t.endpoint, t.method, t.protocol, t.hourStart),
  index('idx_hourly_hour_start').on(t.hourStart),
  index('idx_hourly_protocol').on(t.protocol),
]);

/**
 * Outbound calls the services make, by hour: the same columns, where endpoint is the called
 * `scheme://host[:port]/path-template`, inbound the response bodies received and outbound the
 * request bodies sent.
 */
export const metricsClientHourly = mysqlTable('metrics_client_hourly', hourlyColumns(), (t) => [
  uniqueIndex('uq_client_hourly_series').on(t.service, t.endpoint, t.method, t.protocol, t.hourStart),
  index('idx_client_hourly_hour_start').on(t.hourStart),
]);

export const metricsDaily = mysqlTable(
  'metrics_daily',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    service: varchar('service', { length: 128 }).notNull().default(''),
    date: date('date', { mode: 'string' }).notNull(),
    protocol: mysqlEnum('protocol', PROTOCOLS).notNull().default('http'),
    totalBandwidth: counter('total_bandwidth'),
    totalInbound: counter('total_inbound'),
    totalOutbound: counter('total_outbound'),
    totalRequests: counter('total_requests'),
    errorCount: counter('error_count'),
    durationSumMs: double('duration_sum_ms').notNull().default(0),
    avgResponseTime: decimal('avg_response_time', { precision: 14, scale: 3, mode: 'number' }).generatedAlwaysAs(avgFromSum, {
      mode: 'stored',
    }),
    /** the day's busiest hour: its bytes in + out */
    peakBandwidth: counter('peak_bandwidth'),
    peakHour: datetime('peak_hour', { mode: 'date' }),
    totalInboundWire: counter('total_inbound_wire'),
    totalOutboundWire: counter('total_outbound_wire'),
    uniqueUsers: int('unique_users', { unsigned: true }).notNull().default(0),
    createdAt: timestamp('created_at').notNull().defaultNow(),
    updatedAt: timestamp('updated_at').notNull().defaultNow().onUpdateNow(),
  },
  (t) => [uniqueIndex('uq_daily_series').on(t.service, t.date, t.protocol), index('idx_daily_date').on(t.date)],
);

/**
 * Who used the services, by hour: one row per (service, hour, user) with the user's requests and
 * body bytes. Unique users of an hour are its row count, of a day COUNT(DISTINCT user_id): exact.
 * User ids come from the instrumentation's user resolver; they are never metric attributes.
 */
export const metricsUsersHourly = mysqlTable(
  'metrics_users_hourly',
  {
    service: varchar('service', { length: 128 }).notNull(),
    hourStart: datetime('hour_start', { mode: 'date' }).notNull(),
    userId: varchar('user_id', { length: 191 }).notNull(),
    requests: counter('requests'),
    totalInbound: counter('total_inbound'),
    totalOutbound: counter('total_outbound'),
  },
  (t) => [primaryKey({ columns: [t.service, t.hourStart, t.userId] }), index('idx_users_hour_start').on(t.hourStart)],
);

export const ALERT_TYPES = ['threshold', 'spike', 'anomaly'] as const;
export type AlertType = (typeof ALERT_TYPES)[number];
export const ALERT_SEVERITIES = ['low', 'medium', 'high', 'critical'] as const;
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
/**
 * The rates an alert rule may measure, per second: body bytes in + out, in, out; requests; errors
 * (status 400 and up, or aborted: what error_count counts).
 */
export const ALERT_RATE_METRICS = ['bandwidth', 'inbound', 'outbound', 'requests', 'errors'] as const;
export type AlertRateMetric = (typeof ALERT_RATE_METRICS)[number];
/** The latencies an alert rule may measure: a percentile of the request durations, in ms. */
export const ALERT_LATENCY_METRICS = ['p50', 'p95', 'p99'] as const;
export type AlertLatencyMetric = (typeof ALERT_LATENCY_METRICS)[number];
/** What an alert rule measures: a rate a second, or a latency percentile in ms. */
export const ALERT_METRICS = [...ALERT_RATE_METRICS, ...ALERT_LATENCY_METRICS] as const;
export type AlertMetric = (typeof ALERT_METRICS)[number];
/** Which of an alert's changes its webhook has been told of (the outbox of alert-notifier.ts). */
export const ALERT_NOTIFIED = ['none', 'opened', 'resolved'] as const;
export type AlertNotified = (typeof ALERT_NOTIFIED)[number];

export const bandwidthAlerts = mysqlTable(
  'bandwidth_alerts',
  {
    id: bigint('id', { mode: 'number', unsigned: true }).autoincrement().primaryKey(),
    alertType: mysqlEnum('alert_type', ALERT_TYPES).notNull(),
    severity: mysqlEnum('severity', ALERT_SEVERITIES).notNull(),
    message: text('message').notNull(),
    /** in the unit of metric: a rate a second, fractions kept (0.4 errors a second is not 0), or ms for a latency */
    metricValue: double('metric_value').notNull(),
    thresholdValue: double('threshold_value'),
    service: varchar('service', { length: 128 }),
    endpoint: varchar('endpoint', { length: 255 }),
    protocol: mysqlEnum('protocol', PROTOCOLS),
    createdAt: timestamp('created_at').notNull().defaultNow(),
    resolvedAt: timestamp('resolved_at'),
    /** the rule that raised it (its name in the rules) */
    rule: varchar('rule', { length: 128 }).notNull().default(''),
    /**
     * What metric_value, threshold_value and peak_value measure: a rate a second (bandwidth,
     * inbound, outbound: bytes; requests; errors) or a latency percentile in ms (p50, p95, p99);
     * null for the plan's own rows
     */
    metric: mysqlEnum('metric', ALERT_METRICS),
    /** the endpoint's method; null for a rule over a whole service or everything */
    method: varchar('method', { length: 16 }),
    /** the highest value seen while it was open */
    peakValue: double('peak_value'),
    /**
     * The end of the latest window (data time) in which its condition held: it is resolved once
     * the condition has not held for its rule's resolveAfterMinutes after that
     */
    heldUntil: datetime('held_until', { mode: 'date' }),
    /**
     * While open: the rule and what it watches, so that one condition has one open alert (unique;
     * MySQL lets any number of rows hold NULL, which a resolved alert does)
     */
    openKey: varchar('open_key', { length: 191 }),
    notified: mysqlEnum('notified', ALERT_NOTIFIED).notNull().default('none'),
    /** webhook calls refused or failed for its present state; the next is not tried before next_notify_at */
    notifyAttempts: int('notify_attempts', { unsigned: true }).notNull().default(0),
    nextNotifyAt: datetime('next_notify_at', { mode: 'date' }),
  },
  (t) => [
    index('idx_alerts_created').on(t.createdAt),
    index('idx_alerts_severity').on(t.severity),
    index('idx_alerts_protocol').on(t.protocol),
    uniqueIndex('uq_alerts_open_key').on(t.openKey),
    index('idx_alerts_notified').on(t.notified),
  ],
);

/**
 * The ledger of applied batches. A batch id is inserted in the same transaction as the batch's
 * upserts, so a batch delivered twice is applied once.
 */
export const metricsBatchLedger = mysqlTable(
  'metrics_batch_ledger',
  {
    batchId: varchar('batch_id', { length: 191 }).primaryKey(),
    flushId: varchar('flush_id', { length: 64 }).notNull(),
    streamEntryId: varchar('stream_entry_id', { length: 64 }).notNull(),
    service: varchar('service', { length: 128 }).notNull().default(''),
    points: int('points', { unsigned: true }).notNull().default(0),
    appliedAt: datetime('applied_at', { mode: 'date', fsp: 3 })
      .notNull()
      .default(sql`CURRENT_TIMESTAMP(3)`),
  },
  (t) => [index('idx_ledger_flush').on(t.flushId), index('idx_ledger_applied_at').on(t.appliedAt)],
);

export type MetricsHourlyRow = typeof metricsHourly.$inferSelect;
export type MetricsHourlyInsert = typeof metricsHourly.$inferInsert;
export type MetricsDailyRow = typeof metricsDaily.$inferSelect;
export type BandwidthAlertRow = typeof bandwidthAlerts.$inferSelect;
