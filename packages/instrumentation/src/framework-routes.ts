/**
 * Route templates from frameworks that do not leave them on the raw request: hooks that set
 * FRAMEWORK_ROUTE on the IncomingMessage, which routeOf reads first. Nothing here wraps the app
 * or its framework; each hook is a diagnostics_channel subscriber installed once, and the
 * subscriber allocates nothing per request (a framework that publishes builds its own message).
 *
 * Fastify (4.x, 5.x): each instance announces itself on `fastify.initialization` as it is
 * created, before any route or plugin; an `onRequest` hook added to it then, ahead of the app's
 * own, names the route of every request from `request.routeOptions.url` (the full template with
 * every `register(..., { prefix })` applied), so requests answered before their handler (an
 * onRequest hook that replies, a failed validation, an unparsable body) keep their template too.
 * Fastify's not-found handler has no template, so its 404s become `(unmatched)`. Fastify's handler
 * TracingChannel `fastify.request.handler` names the route as well, for an instance created
 * before the hook was installed (it publishes only when the channel reports subscribers:
 * `TracingChannel#hasSubscribers`, Node.js 20.13 and later).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { type FRAMEWORK_ROUTE, setFrameworkRoute } from './route-template';

/** Fastify's handler TracingChannel: its `start` event, published before each route handler. */
export const FASTIFY_HANDLER_START = 'tracing:fastify.request.handler:start';
/** Published by every Fastify instance as it is created, with `{ fastify }`. */
export const FASTIFY_INITIALIZATION = 'fastify.initialization';

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
    if (typeof url === 'string' && raw !== undefined && raw !== null) setFrameworkRoute(raw, url === '' ? '/' : url);
  } catch {
    // a malformed message: the request keeps its fallback route
  }
}

interface FastifyRequestLike {
  raw?: { [FRAMEWORK_ROUTE]?: string };
  routeOptions?: { url?: unknown };
}
interface FastifyInstanceLike {
  addHook?: (name: 'onRequest', hook: (request: FastifyRequestLike, reply: unknown, done: () => void) => void) => unknown;
}

/** The onRequest hook added to each Fastify instance: names the route, then lets the request on. */
function nameFastifyRoute(request: FastifyRequestLike, _reply: unknown, done: () => void): void {
  try {
    const url = request.routeOptions?.url;
    const raw = request.raw;
    if (typeof url === 'string' && raw !== undefined && raw !== null) setFrameworkRoute(raw, url === '' ? '/' : url);
  } catch {
    // the request keeps its fallback route
  }
  done();
}

/** Adds the route-naming hook to a Fastify instance as it is created. Never throws into Fastify. */
export function onFastifyInitialization(message: unknown): void {
  try {
    const fastify = (message as { fastify?: FastifyInstanceLike } | null)?.fastify;
    if (fastify !== undefined && typeof fastify.addHook === 'function') fastify.addHook('onRequest', nameFastifyRoute);
  } catch {
    // an instance that refuses hooks: the handler channel still names its routes
  }
}

let installed = false;

export function installFrameworkRouteHooks(): void {
  if (installed) return;
  installed = true;
  diagnosticsChannel.subscribe(FASTIFY_INITIALIZATION, onFastifyInitialization);
  diagnosticsChannel.subscribe(FASTIFY_HANDLER_START, onFastifyHandlerStart);
}
