/**
 * Route templates from frameworks that do not leave them on the raw request: hooks that set
 * FRAMEWORK_ROUTE on the IncomingMessage, which routeOf reads first. Nothing here wraps the app
 * or its framework; each hook is a diagnostics_channel subscriber installed once, and the
 * subscriber allocates nothing per request (a framework that publishes builds its own message).
 *
 * Fastify (5.x): its handler TracingChannel `fastify.request.handler` publishes, just before a
 * route's handler runs (after its onRequest, validation and preHandler steps), a context with the
 * request and `route.url`, the full template with every `register(..., { prefix })` applied. The
 * not-found handler is not published, so Fastify's 404s stay without a template and become
 * `(unmatched)`. A request answered before its handler (an onRequest hook that replies, a failed
 * validation, an unparsable body) has no template either and falls back to its normalised path.
 * Fastify publishes only when the channel reports subscribers (`TracingChannel#hasSubscribers`,
 * Node.js 20.13 and later).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { FRAMEWORK_ROUTE } from './route-template';

/** Fastify's handler TracingChannel: its `start` event, published before each route handler. */
export const FASTIFY_HANDLER_START = 'tracing:fastify.request.handler:start';

interface FastifyHandlerContext {
  request?: { raw?: { [FRAMEWORK_ROUTE]?: string } };
  route?: { url?: unknown };
}

/** Sets the Fastify route template on the raw request. Never throws into Fastify. */
export function onFastifyHandlerStart(message: unknown): void {
  try {
    const context = message as FastifyHandlerContext;
    const url = context.route?.url;
    const raw = context.request?.raw;
    if (typeof url === 'string' && raw !== undefined && raw !== null) raw[FRAMEWORK_ROUTE] = url === '' ? '/' : url;
  } catch {
    // a malformed message: the request keeps its fallback route
  }
}

let installed = false;

export function installFrameworkRouteHooks(): void {
  if (installed) return;
  installed = true;
  diagnosticsChannel.subscribe(FASTIFY_HANDLER_START, onFastifyHandlerStart);
}
