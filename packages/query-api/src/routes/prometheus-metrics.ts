import { PROMETHEUS_TEXT_CONTENT_TYPE, isUnreachableError, processMetricFamilies, renderPrometheusText } from '@otel-bandwidth/core';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { ApiContext } from '../api-context';
import { pipelineMetricFamilies } from '../pipeline-metrics';
import { readPipelineState } from '../pipeline-state';
import { withinDeadline } from '../store-deadline';
import { countOpenAlerts } from './alerts';

/** Where an error the route did not expect goes (the API's log). */
export type ErrorReporter = (what: string, err: unknown) => void;

/**
 * What a read gave, or undefined when its store did not answer within the deadline or failed:
 * the scrape goes on without it. Errors other than a store that does not answer (a missing
 * table, say) are reported, so that a 0 in `otel_bandwidth_store_up` can be traced.
 */
async function readOrNothing<T>(what: string, read: () => Promise<T>, report: ErrorReporter): Promise<T | undefined> {
  try {
    return await withinDeadline(read());
  } catch (err) {
    if (!isUnreachableError(err)) report(what, err);
    return undefined;
  }
}

/**
 * GET /metrics: the pipeline's health in Prometheus' text exposition format, for scraping. Always
 * a 200 with what could be read; a store that is down is a 0 in `otel_bandwidth_store_up`.
 */
export function prometheusMetricsRoutes(ctx: ApiContext, report: ErrorReporter): FastifyPluginAsyncTypebox {
  return async (app) => {
    app.get(
      '/metrics',
      {
        schema: {
          summary: "The pipeline's health as Prometheus gauges (text exposition format 0.0.4), for scraping",
          description:
            'What GET /metrics/status says (stream, consumer group, dead letters, backlog age, last persist, healthy), the alerts open now, whether Redis and MySQL answered (otel_bandwidth_store_up), and the process basics. Always 200: the gauges of a store that does not answer are left out.',
          response: {
            200: {
              description: "Prometheus' text exposition format, version 0.0.4",
              content: { [PROMETHEUS_TEXT_CONTENT_TYPE]: { schema: Type.String() } },
            },
          },
        },
      },
      async (_req, reply) => {
        const [pipeline, openAlerts] = await Promise.all([
          readOrNothing('reading the pipeline state from Redis', () => readPipelineState(ctx), report),
          readOrNothing('counting the open alerts in MySQL', () => countOpenAlerts(ctx), report),
        ]);
        const text = renderPrometheusText([...pipelineMetricFamilies({ pipeline, openAlerts }), ...processMetricFamilies()]);
        return reply.type(PROMETHEUS_TEXT_CONTENT_TYPE).send(text);
      },
    );
  };
}
