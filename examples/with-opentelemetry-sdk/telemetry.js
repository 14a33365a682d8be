// @ts-check
// The service's own OpenTelemetry setup, with otel-bandwidth added to it: the bandwidth
// instrumentation's metric producer and the Redis exporter go on a reader of the service's
// NodeSDK, beside @opentelemetry/instrumentation-http. Nothing registers a second global provider.
'use strict';
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');
const { PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { BandwidthInstrumentation, RedisMetricExporter } = require('@otel-bandwidth/instrumentation');

const bandwidth = new BandwidthInstrumentation({ userIdHeader: 'x-user-id' }).enable();

const exporter = new RedisMetricExporter({
  url: process.env.REDIS_URL,
  keyPrefix: process.env.OTEL_BANDWIDTH_KEY_PREFIX,
  collectUserUsage: bandwidth.collectUserUsage,
});

const sdk = new NodeSDK({
  serviceName: process.env.OTEL_SERVICE_NAME ?? 'orders',
  instrumentations: [new HttpInstrumentation()],
  metricReaders: [
    new PeriodicExportingMetricReader({
      exporter,
      exportIntervalMillis: Number(process.env.OTEL_METRIC_EXPORT_INTERVAL ?? 5000),
      metricProducers: [bandwidth.metricProducer],
    }),
  ],
});
sdk.start();

// the service decides how it stops: flush telemetry, then exit
process.once('SIGTERM', () => {
  // the whole shutdown within the exporter's shutdownTimeoutMillis, even with Redis hanging
  exporter.startShutdownClock();
  sdk.shutdown().finally(() => process.exit(0));
});
