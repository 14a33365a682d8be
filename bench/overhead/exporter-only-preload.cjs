'use strict';
// A reference point, not a product: everything the preload loads and runs beside the app (the
// OpenTelemetry SDK's MeterProvider and periodic reader, the Redis exporter and its connection,
// the instrumentation's tables and metric producer), exporting every interval as the preload does,
// but with nothing hooked into node:http: what having that code and its heap in the process costs
// the app's requests, apart from what measuring them costs. Configured by the benchmark's
// environment, like the preload.
const path = require('node:path');
const { MeterProvider, PeriodicExportingMetricReader } = require(require.resolve('@opentelemetry/sdk-metrics', { paths: [path.join(__dirname, '..', '..', 'packages', 'instrumentation')] }));
const { BandwidthInstrumentation, RedisMetricExporter } = require('../../packages/instrumentation/dist/index.js');

const instrumentation = new BandwidthInstrumentation(); // never enabled: no hooks
const exporter = new RedisMetricExporter({
  url: process.env.REDIS_URL,
  keyPrefix: process.env.OTEL_BANDWIDTH_KEY_PREFIX,
  collectUserUsage: instrumentation.collectUserUsage,
});
const interval = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: interval, exportTimeoutMillis: interval, metricProducers: [instrumentation.metricProducer] });
new MeterProvider({ readers: [reader] });
