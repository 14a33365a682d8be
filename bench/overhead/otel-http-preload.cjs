'use strict';
// The comparison points for the otel-bandwidth preload: what a service pays for the stock
// OpenTelemetry HTTP instrumentation, set up the usual way but exporting nowhere.
//
//   node --require bench/overhead/otel-http-preload.cjs bench/overhead/server.cjs
//
// BENCH_OTEL_TRACING unset/0: @opentelemetry/instrumentation-http with a MeterProvider
//   (PeriodicExportingMetricReader, 5 s, an exporter that discards) and no tracer provider: the
//   spans it starts are non-recording.
// BENCH_OTEL_TRACING=1: the same plus a NodeTracerProvider (AsyncLocalStorage context manager,
//   W3C propagator) with an always-on sampler and a SimpleSpanProcessor around an exporter that
//   discards.
//
// On SIGTERM it flushes the metrics, prints one line to stderr,
//   otel-http-preload {"spans":N,"metricExports":N,"httpServerDurationCount":N}
// (so the runner can check that requests really were recorded), and exits.
const { metrics, trace } = require('@opentelemetry/api');
const { MeterProvider, PeriodicExportingMetricReader, DataPointType } = require('@opentelemetry/sdk-metrics');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { node: traceNode } = require('@opentelemetry/sdk-node');
const { HttpInstrumentation } = require('@opentelemetry/instrumentation-http');

const tracing = process.env.BENCH_OTEL_TRACING === '1' || process.env.BENCH_OTEL_TRACING === 'true';
const resource = resourceFromAttributes({ 'service.name': process.env.OTEL_SERVICE_NAME || 'bench' });
const exportIntervalMillis = Number(process.env.OTEL_METRIC_EXPORT_INTERVAL || 5000);

const stats = { spans: 0, metricExports: 0, httpServerDurationCount: 0 };

const discardingMetricExporter = {
  export(resourceMetrics, resultCallback) {
    stats.metricExports++;
    let count = 0;
    for (const scope of resourceMetrics.scopeMetrics) {
      for (const metric of scope.metrics) {
        const name = metric.descriptor.name;
        if (!name.startsWith('http.server.') || !name.includes('duration')) continue;
        if (metric.dataPointType !== DataPointType.HISTOGRAM) continue;
        for (const point of metric.dataPoints) count += point.value.count;
      }
    }
    stats.httpServerDurationCount = count; // cumulative temporality: the latest total
    resultCallback({ code: 0 });
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

const meterProvider = new MeterProvider({
  resource,
  readers: [new PeriodicExportingMetricReader({ exporter: discardingMetricExporter, exportIntervalMillis })],
});
metrics.setGlobalMeterProvider(meterProvider);

if (tracing) {
  const discardingSpanExporter = {
    export(spans, resultCallback) {
      stats.spans += spans.length;
      resultCallback({ code: 0 });
    },
    shutdown: () => Promise.resolve(),
    forceFlush: () => Promise.resolve(),
  };
  const tracerProvider = new traceNode.NodeTracerProvider({
    resource,
    sampler: new traceNode.AlwaysOnSampler(),
    spanProcessors: [new traceNode.SimpleSpanProcessor(discardingSpanExporter)],
  });
  tracerProvider.register();
}

// After the global providers are set: the instrumentation picks them up when constructed and
// hooks require('http') / require('node:http') from here on.
new HttpInstrumentation();

process.once('SIGTERM', () => {
  meterProvider
    .forceFlush()
    .catch(() => undefined)
    .then(() => {
      process.stderr.write(`otel-http-preload ${JSON.stringify({ tracing, ...stats, tracerProvider: trace.getTracerProvider().getDelegate?.().constructor.name })}\n`);
      process.exit(0);
    });
});
