import type { IncomingMessage, ServerResponse } from 'node:http';
import type { UserUsage } from '@otel-bandwidth/core';
import type { MetricProducer } from '@opentelemetry/sdk-metrics';
import { clientStats, createClientSeriesTable, startHttpClientRecorder } from './http-client-recorder';
import { routeFromActiveContext } from './context-route';
import { startHttpServerRecorder, type RecorderStats, type UserIdResolver } from './http-server-recorder';
import { SeriesTable } from './series-table';
import type { PackedTablesSnapshot } from './packed-snapshot';
import { TablesDrain } from './series-snapshot';
import { UserUsageTable } from './user-usage';

export interface BandwidthInstrumentationOptions {
  /** Series kept per process before new ones fold into "(overflow)". Default 2000. */
  cardinalityLimit?: number;
  /**
   * Who made a request, called when the response finishes (so auth middleware has run).
   * Return undefined for anonymous requests. User ids never become metric attributes.
   */
  userId?: UserIdResolver;
  /** Shortcut for userId: the value of this request header. */
  userIdHeader?: string;
  /** Distinct users tracked per export interval. Default 10000. */
  maxUsersPerInterval?: number;
  /** Also measure the outbound calls the service makes (node:http clients, fetch). Default true. */
  outbound?: boolean;
  /**
   * Take `http.route` from OpenTelemetry's own instrumentations when they name one (the RPC
   * metadata @opentelemetry/instrumentation-http keeps per request, which framework
   * instrumentations fill in), for frameworks this package does not detect itself. Costs one
   * context lookup per response. Default true; the zero-code preload sets it from
   * OTEL_BANDWIDTH_ROUTE_FROM_CONTEXT (default false).
   */
  routeFromOpenTelemetryContext?: boolean;
}

export interface BandwidthInstrumentationStats extends RecorderStats {
  /** series currently held */
  series: number;
  /** new series folded into "(overflow)" since start (each counted once per export interval) */
  overflowedSeries: number;
  /** requests whose user went untracked because their interval already had maxUsersPerInterval users */
  droppedUsers: number;
  /** outbound calls recorded */
  outboundRequests: number;
}

function headerResolver(name: string): UserIdResolver {
  const header = name.toLowerCase();
  return (req: IncomingMessage) => {
    const v = req.headers[header];
    return Array.isArray(v) ? v[0] : v;
  };
}

/**
 * Per-route request/response bytes and duration of this process's HTTP server, recorded into
 * preallocated per-series records and handed to OpenTelemetry by `metricProducer`.
 *
 * For a service that configures OpenTelemetry itself: enable() it, and add
 * `metricProducer` to the metric reader whose exporter should receive the data.
 */
export class BandwidthInstrumentation {
  private producer: MetricProducer | undefined;
  private readonly tables: TablesDrain;
  private readonly table: SeriesTable;
  private readonly clientTable: SeriesTable | undefined;
  private clientRecorder: { stop(): void } | undefined;
  private readonly users: UserUsageTable;
  private readonly userId: UserIdResolver | undefined;
  private readonly routeFromContext: boolean;
  private recorder: { stats: RecorderStats; stop(): void } | undefined;

  constructor(options: BandwidthInstrumentationOptions = {}) {
    this.table = new SeriesTable(options.cardinalityLimit ?? 2000);
    this.users = new UserUsageTable(options.maxUsersPerInterval ?? 10_000);
    this.userId = options.userId ?? (options.userIdHeader ? headerResolver(options.userIdHeader) : undefined);
    this.routeFromContext = options.routeFromOpenTelemetryContext ?? true;
    this.clientTable = options.outbound === false ? undefined : createClientSeriesTable(options.cardinalityLimit ?? 2000);
    this.tables = new TablesDrain(this.table, this.clientTable);
  }

  enable(): this {
    if (!this.recorder) {
      this.recorder = startHttpServerRecorder(this.table, {
        ...(this.userId ? { users: this.users, userId: this.userId } : {}),
        ...(this.routeFromContext ? { routeFromContext: routeFromActiveContext } : {}),
      });
      if (this.clientTable) this.clientRecorder = startHttpClientRecorder(this.clientTable);
    }
    return this;
  }

  disable(): void {
    this.recorder?.stop();
    this.recorder = undefined;
    this.clientRecorder?.stop();
    this.clientRecorder = undefined;
  }

  /**
   * Hands the recorded series to the reader it is registered with, at each collection. Made on
   * first use: OpenTelemetry's SDK is loaded only by code that asks for it, so the preload's app
   * thread, whose series its export worker collects with drainTablesPacked(), never loads it.
   */
  get metricProducer(): MetricProducer {
    if (this.producer === undefined) {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const { SnapshotMetricProducer } = require('./bandwidth-metric-producer') as typeof import('./bandwidth-metric-producer');
      this.producer = new SnapshotMetricProducer(async () => this.tables.drain());
    }
    return this.producer;
  }

  /**
   * Drains the recorded series, packed for another thread (the preload's export worker): what
   * one collection hands to OpenTelemetry there.
   */
  drainTablesPacked(): PackedTablesSnapshot {
    return this.tables.drainPacked();
  }

  /** The users seen since the last call (for the exporter's collectUserUsage). */
  readonly collectUserUsage = (): UserUsage[] => this.users.drain();

  stats(): BandwidthInstrumentationStats {
    return {
      requests: this.recorder?.stats.requests ?? 0,
      aborted: this.recorder?.stats.aborted ?? 0,
      internalErrors: this.recorder?.stats.internalErrors ?? 0,
      series: this.table.size,
      overflowedSeries: this.table.overflowedSeries,
      droppedUsers: this.users.droppedUsers,
      outboundRequests: clientStats.requests,
    };
  }
}

export type { UserIdResolver, IncomingMessage, ServerResponse };
