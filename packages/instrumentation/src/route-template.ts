import type { IncomingMessage } from 'node:http';
import { ROUTE_UNMATCHED } from '@otel-bandwidth/core';
import { expressRouteTemplate } from './express-routes';
import { normalisePath } from './route-normaliser';

/**
 * Set on the raw request by a framework hook (framework-routes.ts) to the matched route template,
 * through setFrameworkRoute: routeOf looks for it only once a setter has run in the process.
 */
export const FRAMEWORK_ROUTE = Symbol.for('otel-bandwidth.route');
/** Set on the raw request to the route OpenTelemetry's instrumentations named (context-route.ts). */
export const CONTEXT_ROUTE = Symbol('otel-bandwidth.contextRoute');

/** Whether anything in the process has left a route on a request under either key yet. */
interface RouteKeysSeen {
  framework: boolean;
  context: boolean;
}
const ROUTE_KEYS_SEEN = Symbol.for('otel-bandwidth.routeKeysSeen');
const processWide = globalThis as { [ROUTE_KEYS_SEEN]?: RouteKeysSeen };
/**
 * Until a route has been left under a key, routeOf does not look for it. Asking a request for a
 * symbol it does not have is a megamorphic lookup that walks the request's whole prototype chain
 * (requests take many shapes over their life, and more under a framework): callgrind showed both
 * of routeOf's lookups going through V8's KeyedLoadIC_Megamorphic, about 240 instructions each.
 * Shared by every copy of this module in the process, as FRAMEWORK_ROUTE is.
 */
const routeKeysSeen: RouteKeysSeen = processWide[ROUTE_KEYS_SEEN] ?? (processWide[ROUTE_KEYS_SEEN] = { framework: false, context: false });

/** Leaves a framework's route template on its raw request, for routeOf. */
export function setFrameworkRoute(raw: { [FRAMEWORK_ROUTE]?: string }, template: string): void {
  routeKeysSeen.framework = true;
  raw[FRAMEWORK_ROUTE] = template;
}

/** Leaves the route OpenTelemetry's instrumentations named on the raw request, for routeOf. */
export function setContextRoute(req: { [CONTEXT_ROUTE]?: string }, route: string): void {
  routeKeysSeen.context = true;
  req[CONTEXT_ROUTE] = route;
}

interface ExpressLikeRequest {
  [FRAMEWORK_ROUTE]?: string;
  [CONTEXT_ROUTE]?: string;
  route?: { path?: unknown };
  app?: unknown;
  baseUrl?: unknown;
  originalUrl?: unknown;
}

/** Segments of `path` up to `length` (a trailing slash adds none). */
function segmentCount(path: string, length = path.length): number {
  let n = 0;
  const end = length > 1 && path.charCodeAt(length - 1) === 47 ? length - 1 : length;
  for (let i = 0; i < end; i++) if (path.charCodeAt(i) === 47) n++;
  return n;
}

/** Segments of a URL's path, without slicing off its query string. */
function urlSegmentCount(url: string): number {
  const q = url.indexOf('?');
  return segmentCount(url, q === -1 ? url.length : q);
}

function pathOnly(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}

/** A route path made only of literal and `:param` segments: one URL segment per route segment. */
const SIMPLE_ROUTE = /^(\/[^/*?()[\]{}]*)*$/;

/**
 * The Express route template when the router tree cannot tell it (express-routes.ts): the
 * innermost router's route path below its mount path. `req.baseUrl` holds the mount path with
 * real values (normalised here: id-like values become `:id`, others stay), and is reset to the parent's when
 * an error leaves a router; then the mount path is taken from the original URL, as many segments
 * as the route itself does not account for.
 */
function expressRoute(r: IncomingMessage & ExpressLikeRequest, routePath: string): string {
  const base = typeof r.baseUrl === 'string' ? r.baseUrl : '';
  const full = pathOnly(typeof r.originalUrl === 'string' ? r.originalUrl : (r.url ?? ''));
  const routeSegments = routePath === '/' ? 0 : segmentCount(routePath);
  const fullSegments = segmentCount(full);
  const baseSegments = base === '' ? 0 : segmentCount(base);
  let prefix = base;
  if (baseSegments + routeSegments !== fullSegments && SIMPLE_ROUTE.test(routePath) && fullSegments > routeSegments) {
    let cut = 0;
    for (let seen = 0; cut < full.length; cut++) {
      if (full.charCodeAt(cut) === 47 && seen++ === fullSegments - routeSegments) break;
    }
    prefix = full.slice(0, cut);
  }
  if (prefix === '' || prefix === '/') return routePath;
  const normalisedPrefix = normalisePath(prefix);
  return routePath === '/' ? normalisedPrefix : normalisedPrefix + routePath;
}

/** Segments of a template made of literal and `:param` segments only; -1 for any other. */
const templateSegments = new Map<string, number>();

/**
 * False when a template from the router tree cannot be the request's: a literal-and-parameter
 * template always has as many segments as the path it matched. It catches a tree walked from the
 * wrong top: an Express app mounted by `router.use(path, app)` is not a sub-app to Express (no
 * parent), so the request's `req.app` is the inner app and the walk from it misses the prefix.
 */
function fitsUrl(template: string, r: IncomingMessage & ExpressLikeRequest): boolean {
  let segments = templateSegments.get(template);
  if (segments === undefined) {
    segments = SIMPLE_ROUTE.test(template) ? segmentCount(template) : -1;
    if (templateSegments.size >= 4096) templateSegments.clear();
    templateSegments.set(template, segments);
  }
  return segments === -1 || segments === urlSegmentCount(typeof r.originalUrl === 'string' ? r.originalUrl : (r.url ?? ''));
}

/**
 * Whether routeOf(req, status) is the normalised URL for every status but 404: nothing has left a
 * framework's or OpenTelemetry's route on any request yet, and Express has not routed this one.
 */
export function routedByUrl(req: IncomingMessage): boolean {
  const seen = routeKeysSeen;
  return !seen.framework && !seen.context && (req as IncomingMessage & ExpressLikeRequest).route === undefined;
}

/**
 * The route of a finished request: the template a framework hook or Express left on it, else (but
 * never for a 404, which a framework may still have routed through middleware) the route
 * OpenTelemetry's instrumentations named, else a normalised path.
 */
export function routeOf(req: IncomingMessage, statusCode: number): string {
  const r = req as IncomingMessage & ExpressLikeRequest;
  const seen = routeKeysSeen;
  if (seen.framework) {
    const template = r[FRAMEWORK_ROUTE];
    if (template !== undefined) return template;
  }
  const route = r.route;
  if (route !== undefined && route !== null && route.path !== undefined) {
    const full = expressRouteTemplate(route, r.app);
    if (full !== null && fitsUrl(full, r)) return full;
    return expressRoute(r, typeof route.path === 'string' ? route.path : String(route.path));
  }
  if (statusCode === 404) return ROUTE_UNMATCHED;
  if (seen.context) {
    const fromContext = r[CONTEXT_ROUTE];
    if (fromContext !== undefined) return fromContext;
  }
  return normalisePath(req.url ?? '/');
}
