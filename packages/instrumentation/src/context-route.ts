/**
 * The route OpenTelemetry's own instrumentations name. @opentelemetry/instrumentation-http puts an
 * RPC metadata object (type "http") in the context it runs each request in; framework
 * instrumentations (Express, Koa, Hapi, Restify, ...) write the matched route template into it,
 * and instrumentation-http reports it as `http.route`. A service that runs those gets the same
 * route in otel-bandwidth's series, for frameworks this package does not detect by itself.
 */
import { context } from '@opentelemetry/api';
import { RPCType, getRPCMetadata } from '@opentelemetry/core';

/** The `http.route` OpenTelemetry holds for the request being handled in the active context, if any. */
export function routeFromActiveContext(): string | undefined {
  const metadata = getRPCMetadata(context.active());
  if (metadata === undefined || metadata.type !== RPCType.HTTP) return undefined;
  const route = metadata.route;
  return typeof route === 'string' && route !== '' ? route : undefined;
}
