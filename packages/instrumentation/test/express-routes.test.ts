/**
 * Express route templates read from the router tree, for Express 5 (paths kept on the layers) and
 * Express 4 (paths read back from the compiled RegExps), on real Express apps.
 */
import express4 from 'express4';
import express5 from 'express';
import { expressRouteTemplate, legacyMountPath } from '../src/express-routes';

type AnyRouter = { stack: Array<{ route?: { path: string }; handle?: unknown }> };

/** The Route registered for `path` somewhere in the app's router tree. */
function findRoute(router: unknown, path: string): object {
  for (const layer of (router as AnyRouter).stack) {
    if (layer.route?.path === path) return layer.route;
    if (typeof layer.handle === 'function' && Array.isArray((layer.handle as Partial<AnyRouter>).stack)) {
      try {
        return findRoute(layer.handle, path);
      } catch {
        // not in this branch
      }
    }
  }
  throw new Error(`no route ${path}`);
}

function buildApp(express: typeof express5 | typeof express4) {
  const app = express();
  const tenants = express.Router({ mergeParams: true });
  const projects = express.Router({ mergeParams: true });
  projects.get('/tasks/:taskId', (_req, res) => void res.end());
  tenants.use('/projects/:projectId', projects);
  tenants.get('/settings', (_req, res) => void res.end());
  app.use('/tenants/:tenantId', tenants);
  const dotted = express.Router();
  dotted.get('/x/:id', (_req, res) => void res.end());
  app.use('/v1.0/a-b', dotted);
  const rooted = express.Router();
  rooted.get('/rooted/:k', (_req, res) => void res.end());
  app.use('/', rooted);
  const twice = express.Router();
  twice.get('/item', (_req, res) => void res.end());
  app.use(['/one', '/two'], twice);
  const optional = express.Router();
  optional.get('/opt-route', (_req, res) => void res.end());
  app.use(express === express4 ? '/maybe/:v?' : '/maybe{/:v}', optional);
  // sub-apps: one at a parameterised path with a sub-app of its own, and two at the same path
  const admin = express();
  admin.get('/users/:userId', (_req, res) => void res.end());
  const audit = express();
  audit.get('/entries/:entryId', (_req, res) => void res.end());
  admin.use('/audit', audit);
  app.use('/orgs/:orgId/admin', admin);
  const twinA = express();
  twinA.get('/a', (_req, res) => void res.end());
  const twinB = express();
  twinB.get('/b', (_req, res) => void res.end());
  app.use('/twin', twinA);
  app.use('/twin', twinB);
  return { app, admin, audit, twinA };
}

const routerOf = (app: unknown): unknown => (app as { _router?: unknown })._router ?? (app as { router: unknown }).router;

describe.each([
  ['Express 4', express4],
  ['Express 5', express5],
] as const)('expressRouteTemplate on %s', (_name, express) => {
  const { app, admin, audit, twinA } = buildApp(express);
  const router = routerOf(app);

  it('joins parameterised mount paths with their names', () => {
    expect(expressRouteTemplate(findRoute(router, '/tasks/:taskId'), app)).toBe('/tenants/:tenantId/projects/:projectId/tasks/:taskId');
    expect(expressRouteTemplate(findRoute(router, '/settings'), app)).toBe('/tenants/:tenantId/settings');
  });

  it('keeps escaped literals and adds nothing for a mount at /', () => {
    expect(expressRouteTemplate(findRoute(router, '/x/:id'), app)).toBe('/v1.0/a-b/x/:id');
    expect(expressRouteTemplate(findRoute(router, '/rooted/:k'), app)).toBe('/rooted/:k');
  });

  it('places the routes of mounted sub-apps, nested ones included, below their mount paths', () => {
    expect(expressRouteTemplate(findRoute(routerOf(admin), '/users/:userId'), admin)).toBe('/orgs/:orgId/admin/users/:userId');
    expect(expressRouteTemplate(findRoute(routerOf(audit), '/entries/:entryId'), audit)).toBe('/orgs/:orgId/admin/audit/entries/:entryId');
  });

  it('gives null for a sub-app whose mount path the parent has twice', () => {
    expect(expressRouteTemplate(findRoute(routerOf(twinA), '/a'), twinA)).toBeNull();
  });

  it('gives null for a router mounted at several paths', () => {
    expect(expressRouteTemplate(findRoute(router, '/item'), app)).toBeNull();
  });

  it('keeps an Express 5 optional part as written; gives null for an Express 4 one (not read back)', () => {
    expect(expressRouteTemplate(findRoute(router, '/opt-route'), app)).toBe(express === express4 ? null : '/maybe{/:v}/opt-route');
  });
});

describe('legacyMountPath', () => {
  const layer = (regexp: RegExp, keys: unknown[] = []) => ({ regexp, keys });
  it('reads literal segments and named parameters back from path-to-regexp 0.1 output', () => {
    expect(legacyMountPath(layer(/^\/tenants(?:\/([^/]+?))\/?(?=\/|$)/i, [{ name: 'tenantId', optional: false }]))).toBe('/tenants/:tenantId');
    expect(legacyMountPath(layer(/^\/a(?:\/([^/]+?))\/b(?:\/([^/]+?))\/?(?=\/|$)/i, [{ name: 'x' }, { name: 'y' }]))).toBe('/a/:x/b/:y');
    expect(legacyMountPath(layer(/^\/v1\.0\/a-b\/?(?=\/|$)/i))).toBe('/v1.0/a-b');
    expect(legacyMountPath(Object.assign(layer(/^\/?(?=\/|$)/i), { regexp: Object.assign(/^\/?(?=\/|$)/i, { fast_slash: true }) }))).toBe('/');
  });

  it('gives null for wildcards, optional parameters, alternatives, and keys that do not match', () => {
    expect(legacyMountPath(layer(/^\/re(.*)\/?(?=\/|$)/i, [{ name: 0 }]))).toBeNull();
    expect(legacyMountPath(layer(/^\/opt(?:\/([^/]+?))?\/?(?=\/|$)/i, [{ name: 'v', optional: true }]))).toBeNull();
    expect(legacyMountPath(layer(/^\/x\/?(?=\/|$)|^\/y\/?(?=\/|$)/i))).toBeNull();
    expect(legacyMountPath(layer(/^\/a(?:\/([^/]+?))\/?(?=\/|$)/i))).toBeNull();
    expect(legacyMountPath(layer(/^\/a\/?(?=\/|$)/i, [{ name: 'ghost' }]))).toBeNull();
    expect(legacyMountPath({ regexp: 'not a regexp' })).toBeNull();
    expect(legacyMountPath({})).toBeNull();
  });
});
