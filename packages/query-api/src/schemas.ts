/**
 * The API's request and response schemas: the one definition of its JSON shapes, used for
 * validation, serialisation and types (and, later, the OpenAPI document). The /metrics/* shapes
 * are the original plan's.
 */
import { REALTIME_TTL_SECONDS } from '@otel-bandwidth/core';
import { ALERT_METRICS, type AlertMetric } from '@otel-bandwidth/storage';
import { Type, type Static, type TSchema } from '@sinclair/typebox';

export const ErrorResponse = Type.Object(
  { statusCode: Type.Integer(), error: Type.String(), message: Type.String() },
  { $id: 'ErrorResponse' },
);

export const RealtimeQuery = Type.Object({
  minutes: Type.Integer({ minimum: 1, maximum: 60, default: 5, description: 'sliding window, in minutes of data time' }),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export type RealtimeQuery = Static<typeof RealtimeQuery>;

/** A latency percentile of the realtime window: null where the view has no duration buckets. */
const realtimePercentile = (description: string) =>
  Type.Union([Type.Number(), Type.Null()], {
    description:
      `${description}, ms, estimated from the window's duration buckets as /metrics/endpoints estimates p50/p95/p99; ` +
      'null when the window has no bucket data (minutes written by an aggregator older than the buckets)',
  });

export const RealtimeEndpoint = Type.Object({
  service: Type.String(),
  endpoint: Type.String(),
  method: Type.String(),
  protocol: Type.String(),
  totalRequests: Type.Integer(),
  totalInbound: Type.Integer(),
  totalOutbound: Type.Integer(),
  totalInboundWire: Type.Integer(),
  totalOutboundWire: Type.Integer(),
  avgResponseTime: Type.Number({ description: 'ms' }),
  maxResponseTime: Type.Number({ description: 'ms' }),
  errorCount: Type.Integer(),
  p50ResponseTime: realtimePercentile('the median'),
  p95ResponseTime: realtimePercentile('the 95th percentile'),
  p99ResponseTime: realtimePercentile('the 99th percentile'),
});
export type RealtimeEndpoint = Static<typeof RealtimeEndpoint>;

export const RealtimeResponse = Type.Object({
  windowMinutes: Type.Integer(),
  from: Type.String({ format: 'date-time' }),
  to: Type.String({ format: 'date-time' }),
  endpoints: Type.Array(RealtimeEndpoint),
  summary: Type.Object({
    totalBandwidth: Type.Integer(),
    totalInbound: Type.Integer(),
    totalOutbound: Type.Integer(),
    totalRequests: Type.Integer(),
    errorCount: Type.Integer(),
    avgResponseTime: Type.Number({ description: 'ms, weighted by requests' }),
    p95ResponseTime: realtimePercentile('the 95th percentile of all the endpoints\' requests'),
  }),
});
export type RealtimeResponse = Static<typeof RealtimeResponse>;

// an enum rather than a union of literals: a bad value is then one error that names the allowed ones
const Direction = Type.Unsafe<'server' | 'client'>({
  type: 'string',
  enum: ['server', 'client'],
  default: 'server',
  description: 'server: requests the services answered (metrics_hourly); client: calls they made (metrics_client_hourly)',
});

/** What a listing answers in: JSON, or its rows as CSV. */
export const ResponseFormat = Type.Unsafe<'json' | 'csv'>({
  type: 'string',
  enum: ['json', 'csv'],
  default: 'json',
  description: 'json, or csv: the rows as RFC 4180 CSV (text/csv, a header line first), a download',
});

export const HourlyQuery = Type.Object({
  hours: Type.Integer({ minimum: 1, maximum: 24 * 90, default: 24, description: 'rows of the hours overlapping the last N hours' }),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  method: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
  direction: Direction,
  format: ResponseFormat,
});
export type HourlyQuery = Static<typeof HourlyQuery>;

export const HourlyRow = Type.Object({
  id: Type.Integer(),
  service: Type.String(),
  endpoint: Type.String(),
  method: Type.String(),
  protocol: Type.String(),
  hour_start: Type.String({ format: 'date-time' }),
  total_requests: Type.Integer(),
  total_inbound: Type.Integer(),
  total_outbound: Type.Integer(),
  total_inbound_wire: Type.Integer({ description: 'bytes on the wire, headers and framing included' }),
  total_outbound_wire: Type.Integer({ description: 'bytes on the wire, headers and framing included' }),
  avg_response_time: Type.Number({ description: 'ms' }),
  max_response_time: Type.Number({ description: 'ms' }),
  min_response_time: Type.Union([Type.Number(), Type.Null()], { description: 'ms' }),
  error_count: Type.Integer(),
  success_count: Type.Integer(),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type HourlyRow = Static<typeof HourlyRow>;
export const HourlyResponse = Type.Array(HourlyRow);

export const DailyQuery = Type.Object({
  days: Type.Integer({ minimum: 1, maximum: 3660, default: 30, description: 'rows of the UTC days overlapping the last N days (N x 24 hours)' }),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  format: ResponseFormat,
});
export type DailyQuery = Static<typeof DailyQuery>;

export const DailyRow = Type.Object({
  id: Type.Integer(),
  service: Type.String(),
  date: Type.String({ format: 'date', description: 'the UTC day' }),
  protocol: Type.String(),
  total_bandwidth: Type.Integer({ description: 'body bytes in and out' }),
  total_inbound: Type.Integer({ description: 'request body bytes' }),
  total_outbound: Type.Integer({ description: 'response body bytes' }),
  total_inbound_wire: Type.Integer({ description: 'bytes on the wire, headers and framing included' }),
  total_outbound_wire: Type.Integer({ description: 'bytes on the wire, headers and framing included' }),
  total_requests: Type.Integer(),
  error_count: Type.Integer(),
  avg_response_time: Type.Number({ description: 'ms' }),
  peak_bandwidth: Type.Integer({ description: "the day's busiest hour: its body bytes in and out" }),
  peak_hour: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], { description: "the start of the day's busiest hour" }),
  unique_users: Type.Integer({ description: 'distinct user ids of the day (exact)' }),
  created_at: Type.String({ format: 'date-time' }),
  updated_at: Type.String({ format: 'date-time' }),
});
export type DailyRow = Static<typeof DailyRow>;
export const DailyResponse = Type.Array(DailyRow);

export const ENDPOINT_SORTS = ['bandwidth', 'requests', 'errors', 'p95', 'p99'] as const;
export type EndpointSort = (typeof ENDPOINT_SORTS)[number];

export const EndpointsQuery = Type.Object({
  hours: Type.Integer({ minimum: 1, maximum: 24 * 90, default: 24, description: 'the hours overlapping the last N hours' }),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  method: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
  direction: Direction,
  sort: Type.Unsafe<EndpointSort>({
    type: 'string',
    enum: [...ENDPOINT_SORTS],
    default: 'bandwidth',
    description: 'the order, largest first: body bytes in and out, requests, errors, or the 95th or 99th percentile of latency',
  }),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: 'endpoints listed' }),
  format: ResponseFormat,
});
export type EndpointsQuery = Static<typeof EndpointsQuery>;

const latency = (description: string) => Type.Union([Type.Number(), Type.Null()], { description: `${description}, ms; null without requests` });

export const EndpointTotals = Type.Object({
  service: Type.String(),
  endpoint: Type.String(),
  method: Type.String(),
  protocol: Type.String(),
  totalRequests: Type.Integer(),
  totalInbound: Type.Integer({ description: 'request body bytes (client: response bodies received)' }),
  totalOutbound: Type.Integer({ description: 'response body bytes (client: request bodies sent)' }),
  totalBandwidth: Type.Integer({ description: 'totalInbound + totalOutbound' }),
  totalInboundWire: Type.Integer({ description: 'bytes on the wire, headers and framing included' }),
  totalOutboundWire: Type.Integer({ description: 'bytes on the wire, headers and framing included' }),
  errorCount: Type.Integer(),
  errorRate: Type.Number({ description: 'errorCount / totalRequests (0 without requests)' }),
  avgResponseTime: Type.Number({ description: 'ms: the sum of durations over the requests' }),
  minResponseTime: latency('the fastest request'),
  maxResponseTime: Type.Number({ description: 'ms' }),
  p50: latency('the median, estimated from the duration buckets'),
  p95: latency('the 95th percentile, estimated from the duration buckets'),
  p99: latency('the 99th percentile, estimated from the duration buckets'),
});
export type EndpointTotals = Static<typeof EndpointTotals>;

export const EndpointsResponse = Type.Object({
  from: Type.String({ format: 'date-time', description: 'start of the first hour counted' }),
  direction: Type.Union([Type.Literal('server'), Type.Literal('client')]),
  sort: Type.Unsafe<EndpointSort>({ type: 'string', enum: [...ENDPOINT_SORTS] }),
  total: Type.Integer({ description: 'endpoints (service, endpoint, method, protocol) with rows in the window, whatever the limit' }),
  endpoints: Type.Array(EndpointTotals),
});
export type EndpointsResponse = Static<typeof EndpointsResponse>;

export const MinutesQuery = Type.Object({
  minutes: Type.Integer({
    minimum: 1,
    maximum: REALTIME_TTL_SECONDS / 60,
    default: 60,
    description: 'the last N minutes of data time, the one now running included (the realtime view keeps two hours)',
  }),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  endpoint: Type.Optional(Type.String({ minLength: 1, maxLength: 255, description: 'a route template, as stored' })),
  method: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
  format: ResponseFormat,
});
export type MinutesQuery = Static<typeof MinutesQuery>;

export const MinuteTotals = Type.Object({
  minuteStart: Type.String({ format: 'date-time' }),
  totalRequests: Type.Integer(),
  totalInbound: Type.Integer({ description: 'request body bytes' }),
  totalOutbound: Type.Integer({ description: 'response body bytes' }),
  errorCount: Type.Integer(),
  avgResponseTime: Type.Number({ description: 'ms; 0 without requests' }),
  maxResponseTime: Type.Number({ description: 'ms; 0 without requests' }),
  p95ResponseTime: Type.Union([Type.Number(), Type.Null()], {
    description: "ms, estimated from the minute's duration buckets as /metrics/endpoints estimates it; null without requests or buckets",
  }),
});
export type MinuteTotals = Static<typeof MinuteTotals>;

export const MinutesResponse = Type.Object({
  from: Type.String({ format: 'date-time', description: 'start of the first minute' }),
  minutes: Type.Array(MinuteTotals, { description: 'every minute from the first to the one now running, oldest first; 0 where nothing was served' }),
});
export type MinutesResponse = Static<typeof MinutesResponse>;

export const HoursQuery = Type.Object({
  hours: Type.Integer({ minimum: 1, maximum: 24 * 90, default: 24, description: 'the hours overlapping the last N hours' }),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
});
export type HoursQuery = Static<typeof HoursQuery>;

export const HoursResponse = Type.Object({
  from: Type.String({ format: 'date-time', description: 'start of the first hour' }),
  hours: Type.Array(
    Type.Object({
      hourStart: Type.String({ format: 'date-time' }),
      totalRequests: Type.Integer(),
      totalInbound: Type.Integer({ description: 'request body bytes' }),
      totalOutbound: Type.Integer({ description: 'response body bytes' }),
      errorCount: Type.Integer(),
    }),
    { description: 'every hour from the first to the one now running, oldest first; 0 where nothing was served' },
  ),
  services: Type.Array(Type.String(), { description: 'the services that served requests in those hours (whatever the service filter)' }),
});
export type HoursResponse = Static<typeof HoursResponse>;

export const UsersQuery = Type.Object({
  hours: Type.Integer({ minimum: 1, maximum: 24 * 90, default: 24, description: 'the hours overlapping the last N hours' }),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 20, description: 'users listed, most bandwidth first' }),
  format: ResponseFormat,
});
export type UsersQuery = Static<typeof UsersQuery>;

export const UserUsageRow = Type.Object({
  service: Type.String(),
  userId: Type.String(),
  totalRequests: Type.Integer(),
  totalInbound: Type.Integer({ description: 'request body bytes' }),
  totalOutbound: Type.Integer({ description: 'response body bytes' }),
  totalBandwidth: Type.Integer(),
});
export type UserUsageRow = Static<typeof UserUsageRow>;

export const UsersResponse = Type.Object({
  from: Type.String({ format: 'date-time', description: 'start of the first hour counted' }),
  uniqueUsers: Type.Integer({ description: 'distinct user ids in the window (exact), across the services counted' }),
  users: Type.Array(UserUsageRow),
});
export type UsersResponse = Static<typeof UsersResponse>;

export const AlertsQuery = Type.Object({
  status: Type.Unsafe<'open' | 'resolved' | 'all'>({
    type: 'string',
    enum: ['open', 'resolved', 'all'],
    default: 'all',
    description: 'open: not yet resolved; resolved: resolved in the last N hours; all: both',
  }),
  hours: Type.Integer({
    minimum: 1,
    maximum: 24 * 90,
    default: 24,
    description: 'alerts open at some time in the last N hours: resolved in them, or still open whatever their age',
  }),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
  limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100, description: 'alerts listed: the open ones first, then newest opened first' }),
});
export type AlertsQuery = Static<typeof AlertsQuery>;

const nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

/** One row of bandwidth_alerts (its type and severity are the enums of packages/storage/src/schema.ts). */
export const Alert = Type.Object({
  id: Type.Integer(),
  rule: Type.String({ description: 'the name of the rule that raised it' }),
  type: Type.Union([Type.Literal('threshold'), Type.Literal('spike'), Type.Literal('anomaly')]),
  severity: Type.Union([Type.Literal('low'), Type.Literal('medium'), Type.Literal('high'), Type.Literal('critical')]),
  metric: nullable(
    Type.Unsafe<AlertMetric>({
      type: 'string',
      enum: [...ALERT_METRICS],
      description:
        'what value, threshold and peak measure: a rate a second, of bytes (bandwidth, inbound, outbound), requests or errors; ' +
        'or a latency percentile in ms (p50, p95, p99)',
    }),
  ),
  service: nullable(Type.String({ description: 'null for a rule over everything' })),
  method: nullable(Type.String({ description: 'null for a rule over a whole service or everything' })),
  endpoint: nullable(Type.String({ description: 'null for a rule over a whole service or everything' })),
  protocol: nullable(Type.String()),
  message: Type.String(),
  value: Type.Number({ description: 'what was measured when it opened, in the unit of metric (a rate a second, or ms)' }),
  threshold: nullable(Type.Number({ description: 'what it crossed, in the unit of metric' })),
  peak: nullable(Type.Number({ description: 'the highest value while open, in the unit of metric' })),
  openedAt: Type.String({ format: 'date-time' }),
  resolvedAt: nullable(Type.String({ format: 'date-time' })),
  durationSeconds: Type.Integer({ description: 'resolved minus opened; while open, now minus opened' }),
});
export type Alert = Static<typeof Alert>;

export const AlertsResponse = Type.Object({
  alerts: Type.Array(Alert, { description: 'the open ones first, then newest opened first' }),
  open: Type.Integer({ description: 'alerts open now (of the service, when one is given), whatever their age and the limit' }),
});
export type AlertsResponse = Static<typeof AlertsResponse>;

export const StatusResponse = Type.Object({
  bufferSize: Type.Integer({ description: 'entries in the stream not yet applied (undelivered + pending)' }),
  lastPersist: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  status: Type.Union([Type.Literal('healthy'), Type.Literal('warning')]),
  streamLength: Type.Integer(),
  pending: Type.Integer(),
  lag: Type.Integer(),
  consumers: Type.Integer({ description: 'consumers in the group (an aggregator that stops cleanly leaves it)' }),
  deadLetters: Type.Integer(),
  activeConsumers: Type.Integer({ description: 'consumers that read the stream in the last 60 s' }),
  backlogAgeSeconds: Type.Integer({ description: 'age of the oldest entry not yet applied (0 when none waits)' }),
  problems: Type.Array(Type.String(), { description: 'why status is warning, one line each' }),
});
export type StatusResponse = Static<typeof StatusResponse>;

export const HealthResponse = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  redis: Type.Union([Type.Literal('ok'), Type.Literal('down')]),
  mysql: Type.Union([Type.Literal('ok'), Type.Literal('down')]),
});
export type HealthResponse = Static<typeof HealthResponse>;
