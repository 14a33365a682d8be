/**
 * Full Express route templates, mount paths included with their parameter names
 * (`/tenants/:tenantId/projects/:projectId`), read from the app's router tree.
 *
 * At finish time an Express request carries `req.route` (the matched Route, whose path is relative
 * to the innermost router) and `req.baseUrl` (the mount path with the real values, and reset to the
 * parent's when an error leaves a router). The mount paths as written are only in the router
 * layers. So the first time a Route is seen, the tree of its app is walked once, from the top app
 * through every nested router, and each Route found gets its template; the request path then does
 * one WeakMap lookup per request.
 *
 * Express 5 (router 2.x) layers keep the path they were registered with (`rawPath`). Express 4
 * layers keep only the RegExp path-to-regexp 0.1 compiled from it, and the names of its parameters
 * (`keys`); a mount path made of literal segments and `:name` parameters is read back from that
 * RegExp's source (legacyMountPath).
 *
 * A Route the walk cannot place unambiguously gets `null` and routeOf falls back to its heuristic:
 * a router mounted at more than one path, a mount path that is a RegExp, a list, or (Express 4)
 * has optional parameters or wildcards, or a sub-app whose mount the parent's tree does not place
 * unambiguously (its mount layer does not reference the sub-app: see subAppPrefix).
 */

/** The part of an Express application read here. */
interface ExpressAppLike {
  /** Express 5: the app's router (a lazy getter) */
  readonly router?: unknown;
  /** Express 4: the app's router */
  readonly _router?: unknown;
  /** a mounted sub-app's parent app */
  readonly parent?: unknown;
  /** a mounted sub-app's mount path, as given to the parent's `app.use` */
  readonly mountpath?: unknown;
}

/** Where the walk met a sub-app's mount layer (`app.use(path, subApp)`, Express's `mounted_app`). */
interface SubAppMount {
  /** the mount path as registered on the layer */
  mount: string | null;
  /** the full path of the mount, or null when the walk could not tell it */
  path: string | null;
}

interface LayerLike {
  readonly route?: unknown;
  readonly handle?: unknown;
  /** router 2.x: the path the layer was registered with */
  readonly rawPath?: unknown;
  /** Express 4: the path compiled by path-to-regexp 0.1 (`fast_slash` set for a mount at `/`) */
  readonly regexp?: unknown;
  /** Express 4: the path's parameters, in order */
  readonly keys?: unknown;
}

const MAX_DEPTH = 64;

/** Route object → its full template, or null when the tree does not tell it unambiguously. */
const templates = new WeakMap<object, string | null>();

function isObjectLike(v: unknown): v is object {
  return (typeof v === 'object' && v !== null) || typeof v === 'function';
}

function topApp(app: unknown): object | undefined {
  if (!isObjectLike(app)) return undefined;
  let current: object = app;
  for (let i = 0; i < MAX_DEPTH; i++) {
    const parent = (current as ExpressAppLike).parent;
    if (!isObjectLike(parent)) break;
    current = parent;
  }
  return current;
}

function routerOf(app: object): unknown {
  try {
    const legacy = (app as ExpressAppLike)._router;
    if (legacy !== undefined) return legacy;
    return (app as ExpressAppLike).router; // Express 4's getter throws; the catch covers it
  } catch {
    return undefined;
  }
}

function stackOf(router: unknown): unknown[] | undefined {
  if (!isObjectLike(router)) return undefined;
  const stack = (router as { stack?: unknown }).stack;
  return Array.isArray(stack) ? stack : undefined;
}

/** The path a mount layer was registered with, if it is a single string. */
function mountPathOf(layer: LayerLike): string | null {
  const raw = layer.rawPath;
  if (typeof raw === 'string') return raw;
  if (Array.isArray(raw) && raw.length === 1 && typeof raw[0] === 'string') return raw[0];
  return raw === undefined ? legacyMountPath(layer) : null;
}

/** What path-to-regexp 0.1 makes of a mount path's end (`end: false`), and of a `/:name` segment. */
const LEGACY_MOUNT_END = '\\/?(?=\\/|$)';
const LEGACY_PARAMETER = '(?:\\/([^/]+?))';
/** Characters path-to-regexp 0.1 escapes in a literal segment. */
const LEGACY_ESCAPED = /\\([/.\-])/g;
/** Anything left that is not a literal path: a wildcard, an optional part, a group, an alternative. */
const LEGACY_NOT_LITERAL = /[\\()[\]{}*+?|^$]/;

/**
 * An Express 4 mount path read back from its compiled RegExp: `/tenants/:tenantId` from
 * `/^\/tenants(?:\/([^/]+?))\/?(?=\/|$)/i` and keys `[{ name: 'tenantId' }]`. Null for anything
 * but literal segments and required named parameters.
 */
export function legacyMountPath(layer: LayerLike): string | null {
  const regexp = layer.regexp;
  if (!(regexp instanceof RegExp)) return null;
  if ((regexp as RegExp & { fast_slash?: unknown }).fast_slash === true) return '/';
  const keys = Array.isArray(layer.keys) ? (layer.keys as unknown[]) : [];
  let source = regexp.source;
  if (!source.startsWith('^') || !source.endsWith(LEGACY_MOUNT_END)) return null;
  source = source.slice(1, source.length - LEGACY_MOUNT_END.length);
  let path = '';
  let at = 0;
  for (const key of keys) {
    const name = isObjectLike(key) ? (key as { name?: unknown; optional?: unknown }).name : undefined;
    if (typeof name !== 'string' || (key as { optional?: unknown }).optional === true) return null;
    const next = source.indexOf(LEGACY_PARAMETER, at);
    if (next === -1) return null;
    path += source.slice(at, next) + '\u0000' + name;
    at = next + LEGACY_PARAMETER.length;
  }
  path += source.slice(at);
  if (path.includes(LEGACY_PARAMETER)) return null;
  const literal = path.replace(LEGACY_ESCAPED, '$1');
  if (LEGACY_NOT_LITERAL.test(literal)) return null;
  return literal.replace(/\u0000/g, '/:');
}

/** `prefix` followed by a mount path: `/` adds nothing, a trailing slash is dropped. */
export function joinMountPath(prefix: string, mount: string): string {
  let end = mount.length;
  while (end > 0 && mount.charCodeAt(end - 1) === 47) end--;
  if (end === 0) return prefix;
  const trimmed = end === mount.length ? mount : mount.slice(0, end);
  return trimmed.charCodeAt(0) === 47 ? prefix + trimmed : prefix + '/' + trimmed;
}

/** `prefix` followed by a route path: a route at `/` below a prefix is the prefix itself. */
export function joinRoutePath(prefix: string, path: string): string {
  if (prefix === '') return path === '' ? '/' : path;
  if (path === '' || path === '/') return prefix;
  return path.charCodeAt(0) === 47 ? prefix + path : prefix + '/' + path;
}

function collect(
  router: unknown,
  prefix: string | null,
  found: Map<object, string | null>,
  onPath: Set<unknown>,
  depth: number,
  mounts?: SubAppMount[],
): void {
  const stack = stackOf(router);
  if (stack === undefined || depth > MAX_DEPTH) return;
  if (onPath.has(router)) {
    // a router mounted inside itself: its routes are reachable at endless paths
    if (prefix !== null) collect(router, null, found, new Set(), depth + 1, mounts);
    return;
  }
  onPath.add(router);
  for (const entry of stack) {
    if (!isObjectLike(entry)) continue;
    const layer = entry as LayerLike;
    const route = layer.route;
    if (isObjectLike(route)) {
      const path = (route as { path?: unknown }).path;
      const template = prefix !== null && typeof path === 'string' ? joinRoutePath(prefix, path) : null;
      found.set(route, found.has(route) && found.get(route) !== template ? null : template);
      continue;
    }
    const handle = layer.handle;
    if (typeof handle === 'function' && stackOf(handle) !== undefined) {
      const mount = mountPathOf(layer);
      collect(handle, prefix !== null && mount !== null ? joinMountPath(prefix, mount) : null, found, onPath, depth + 1, mounts);
    } else if (mounts !== undefined && typeof handle === 'function' && handle.name === 'mounted_app') {
      const mount = mountPathOf(layer);
      mounts.push({ mount, path: prefix !== null && mount !== null ? joinMountPath(prefix, mount) : null });
    }
  }
  onPath.delete(router);
}

/**
 * The full path a sub-app is mounted at, its parents' mounts included, or null when it cannot be
 * told: Express's mount layer for a sub-app is a closure that does not reference it, so the
 * sub-app's `mountpath` is looked up among the parent's sub-app mounts, and must match exactly one.
 */
function subAppPrefix(app: object, depth: number): string | null {
  const parent = (app as ExpressAppLike).parent;
  if (!isObjectLike(parent)) return '';
  const mountpath = (app as ExpressAppLike).mountpath;
  if (typeof mountpath !== 'string' || depth > MAX_DEPTH) return null;
  const parentPrefix = subAppPrefix(parent, depth + 1);
  if (parentPrefix === null) return null;
  const mounts: SubAppMount[] = [];
  collect(routerOf(parent), parentPrefix, new Map(), new Set(), 0, mounts);
  const matching = mounts.filter((m) => m.mount === mountpath);
  return matching.length === 1 ? (matching[0] as SubAppMount).path : null;
}

/**
 * The full template of an Express Route reached from `app` (the request's `req.app`), or null when
 * it cannot be told from the router tree. The tree is walked at most once per Route seen.
 */
export function expressRouteTemplate(route: object, app: unknown): string | null {
  const cached = templates.get(route);
  if (cached !== undefined) return cached;
  const top = topApp(app);
  if (top !== undefined) {
    const found = new Map<object, string | null>();
    collect(routerOf(top), '', found, new Set(), 0);
    for (const [r, template] of found) if (!templates.has(r)) templates.set(r, template);
  }
  // a Route of a mounted sub-app (the request's app while the sub-app handles it): below the
  // sub-app's mount path, when that can be told
  if (!templates.has(route) && top !== undefined && top !== app && isObjectLike(app)) {
    const prefix = subAppPrefix(app, 0);
    if (prefix !== null) {
      const found = new Map<object, string | null>();
      collect(routerOf(app), prefix, found, new Set(), 0);
      for (const [r, template] of found) if (!templates.has(r)) templates.set(r, template);
    }
  }
  const template = templates.get(route);
  if (template !== undefined) return template;
  templates.set(route, null);
  return null;
}
