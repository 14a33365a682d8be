import diagnosticsChannel from 'node:diagnostics_channel';
import type { IncomingMessage } from 'node:http';
import express, { type Router } from 'express';
import fastify from 'fastify';
import { expressRouteTemplate, joinMountPath, joinRoutePath } from '../src/express-routes';
import { FASTIFY_HANDLER_START, installFrameworkRouteHooks, onFastifyHandlerStart, onFastifyInitialization } from '../src/framework-routes';
import { FRAMEWORK_ROUTE, routeOf } from '../src/route-template';

interface LayerShape {
  route?: object;
}

/** The Route objects of a router, in registration order. */
function routesOf(router: Router): object[] {
  return (router.stack as LayerShape[]).flatMap((layer) => (layer.route ? [layer.route] : []));
}

/** What Express leaves on a request when a route answered it. */
function expressRequest(app: unknown, route: object, baseUrl: string, originalUrl: string): IncomingMessage {
  return { app, route, baseUrl, originalUrl, url: '/' } as unknown as IncomingMessage;
}

describe('joinMountPath / joinRoutePath', () => {
  it.each([
    ['', '/', ''],
    ['', '', ''],
    ['', '/api', '/api'],
    ['', '/api/', '/api'],
    ['', 'api', '/api'],
    ['/api', '/v1//', '/api/v1'],
    ['/tenants/:tenantId', '/projects/:projectId', '/tenants/:tenantId/projects/:projectId'],
  ])('mount %j + %j -> %j', (prefix, mount, joined) => {
    expect(joinMountPath(prefix, mount)).toBe(joined);
  });

  it.each([
    ['', '/', '/'],
    ['', '', '/'],
    ['', '/users/:id', '/users/:id'],
    ['/api', '/', '/api'],
    ['/api', '', '/api'],
    ['/api', '/users/:id', '/api/users/:id'],
    ['/api', 'users', '/api/users'],
    ['/files', '/*path', '/files/*path'],
  ])('route %j + %j -> %j', (prefix, path, joined) => {
    expect(joinRoutePath(prefix, path)).toBe(joined);
  });
});

describe('Express route templates from the router tree', () => {
  it('joins nested and parameterised mount paths with their parameter names', () => {
    const app = express();
    const api = express.Router();
    const v1 = express.Router();
    const tenants = express.Router({ mergeParams: true });
    const projects = express.Router({ mergeParams: true });
    v1.get('/orders/:orderId', () => undefined);
    api.use('/v1', v1);
    api.get('/', () => undefined);
    app.use('/api', api);
    projects.get('/tasks/:taskId', () => undefined);
    tenants.use('/projects/:projectId', projects);
    app.use('/tenants/:tenantId', tenants);
    const [order] = routesOf(v1);
    const [apiRoot] = routesOf(api);
    const [task] = routesOf(projects);

    expect(routeOf(expressRequest(app, order!, '/api/v1', '/api/v1/orders/17'), 200)).toBe('/api/v1/orders/:orderId');
    expect(routeOf(expressRequest(app, apiRoot!, '/api', '/api/'), 200)).toBe('/api');
    expect(routeOf(expressRequest(app, task!, '/tenants/acme/projects/p-9', '/tenants/acme/projects/p-9/tasks/3'), 200)).toBe(
      '/tenants/:tenantId/projects/:projectId/tasks/:taskId',
    );
    // after an error left the routers, baseUrl is the app's: the template does not depend on it
    expect(routeOf(expressRequest(app, task!, '', '/tenants/acme/projects/p-9/tasks/3'), 500)).toBe('/tenants/:tenantId/projects/:projectId/tasks/:taskId');
  });

  it('gives routes registered on the app their own path, and one Route serves several methods', () => {
    const app = express();
    app.route('/things').get(() => undefined).post(() => undefined);
    app.get('/', () => undefined);
    const [things, root] = routesOf(app.router as Router);
    expect(expressRouteTemplate(things!, app)).toBe('/things');
    expect(expressRouteTemplate(root!, app)).toBe('/');
  });

  it('walks from the top app when the request is seen from a mounted sub-app', () => {
    const app = express();
    const sub = express();
    sub.get('/x', () => undefined);
    app.get('/top/:id', () => undefined);
    app.use('/sub', sub);
    const [top] = routesOf(app.router as Router);
    expect(expressRouteTemplate(top!, sub)).toBe('/top/:id');
    // a Route inside a sub-app is not reachable from the top app's routers: it is placed below
    // the sub-app's mount path, found among the parent's sub-app mounts
    const [x] = routesOf(sub.router as Router);
    expect(expressRouteTemplate(x!, sub)).toBe('/sub/x');
    expect(routeOf(expressRequest(sub, x!, '/sub', '/sub/x'), 200)).toBe('/sub/x');
  });

  it('does not take a template with fewer segments than the path: an app mounted by router.use', () => {
    const app = express();
    const inner = express();
    inner.get('/items/:itemId', () => undefined);
    const api = express.Router();
    api.use('/inner', inner);
    app.use('/api/:version', api);
    const [item] = routesOf(inner.router as Router);
    // not a sub-app to Express: the request's app is the inner one, whose own walk misses the prefix
    expect(expressRouteTemplate(item!, inner)).toBe('/items/:itemId');
    expect(routeOf(expressRequest(inner, item!, '/api/v2/inner', '/api/v2/inner/items/5?x=1'), 200)).toBe('/api/v2/inner/items/:itemId');
    // the same template where it does fit the path
    expect(routeOf(expressRequest(inner, item!, '', '/items/5'), 200)).toBe('/items/:itemId');
  });

  it('falls back to the mount path with values normalised when the tree is ambiguous', () => {
    const app = express();
    const shared = express.Router();
    shared.get('/items/:itemId', () => undefined);
    app.use('/a/:x', shared);
    app.use('/b', shared);
    const byList = express.Router();
    byList.get('/y', () => undefined);
    app.use(['/one', '/two'], byList);
    const byRegExp = express.Router();
    byRegExp.get('/z', () => undefined);
    app.use(/^\/re\/\d+/, byRegExp);
    const [item] = routesOf(shared);
    const [y] = routesOf(byList);
    const [z] = routesOf(byRegExp);

    expect(expressRouteTemplate(item!, app)).toBeNull();
    expect(routeOf(expressRequest(app, item!, '/a/42', '/a/42/items/7'), 200)).toBe('/a/:id/items/:itemId');
    expect(routeOf(expressRequest(app, item!, '/b', '/b/items/7'), 200)).toBe('/b/items/:itemId');
    expect(expressRouteTemplate(y!, app)).toBeNull();
    expect(routeOf(expressRequest(app, y!, '/two', '/two/y'), 200)).toBe('/two/y');
    expect(expressRouteTemplate(z!, app)).toBeNull();
    expect(routeOf(expressRequest(app, z!, '/re/5', '/re/5/z'), 200)).toBe('/re/:id/z');
  });

  it('places a Route added after the tree was first walked', () => {
    const app = express();
    const api = express.Router();
    api.get('/first', () => undefined);
    app.use('/api/:version', api);
    const [first] = routesOf(api);
    expect(expressRouteTemplate(first!, app)).toBe('/api/:version/first');
    api.get('/second', () => undefined);
    const [, second] = routesOf(api);
    expect(expressRouteTemplate(second!, app)).toBe('/api/:version/second');
  });

  it('survives a router mounted inside itself', () => {
    const app = express();
    const loop = express.Router();
    loop.get('/leaf', () => undefined);
    loop.use('/again', loop);
    app.use('/loop', loop);
    const [leaf] = routesOf(loop);
    // reachable at /loop/leaf, /loop/again/leaf, ...: ambiguous
    expect(expressRouteTemplate(leaf!, app)).toBeNull();
  });

  it('a request without an app keeps the heuristic', () => {
    const route = { path: '/items' };
    expect(expressRouteTemplate(route, undefined)).toBeNull();
    expect(routeOf({ route, baseUrl: '/tenants/17', originalUrl: '/tenants/17/items', url: '/items' } as unknown as IncomingMessage, 200)).toBe(
      '/tenants/:id/items',
    );
  });
});

describe('Fastify route templates from its handler TracingChannel', () => {
  type RawWithRoute = { [FRAMEWORK_ROUTE]?: string };

  it('sets the route template on the raw request, and ignores malformed messages', () => {
    const raw: RawWithRoute = {};
    onFastifyHandlerStart({ request: { raw }, reply: {}, route: { url: '/v1/users/:id', method: 'GET' } });
    expect(raw[FRAMEWORK_ROUTE]).toBe('/v1/users/:id');
    expect(routeOf(raw as unknown as IncomingMessage, 200)).toBe('/v1/users/:id');
    expect(() => onFastifyHandlerStart(undefined)).not.toThrow();
    expect(() => onFastifyHandlerStart({ request: null, route: { url: '/x' } })).not.toThrow();
    const untouched: RawWithRoute = {};
    onFastifyHandlerStart({ request: { raw: untouched }, route: { url: 42 } });
    expect(untouched[FRAMEWORK_ROUTE]).toBeUndefined();
  });

  it('Fastify publishes the prefixed template before the handler, and nothing for its not-found handler', async () => {
    installFrameworkRouteHooks();
    installFrameworkRouteHooks(); // once only
    expect(diagnosticsChannel.channel(FASTIFY_HANDLER_START).hasSubscribers).toBe(true);
    const seen: Array<string | undefined> = [];
    const app = fastify({ logger: false });
    app.addHook('onResponse', (request, _reply, done) => {
      seen.push((request.raw as RawWithRoute)[FRAMEWORK_ROUTE]);
      done();
    });
    app.get('/users/:id', async (request) => request.params);
    app.register(
      async (v1) => {
        v1.get('/', async () => 'root');
        v1.register(
          async (admin) => {
            admin.get('/reports/:reportId', async () => 'report');
          },
          { prefix: '/admin' },
        );
      },
      { prefix: '/v1' },
    );
    try {
      for (const url of ['/users/7', '/v1', '/v1/admin/reports/r-1', '/nowhere']) await app.inject({ method: 'GET', url });
    } finally {
      await app.close();
    }
    expect(seen).toEqual(['/users/:id', '/v1', '/v1/admin/reports/:reportId', undefined]);
  });
});

describe('Fastify route templates from an onRequest hook added at initialization', () => {
  type RawWithRoute = { [FRAMEWORK_ROUTE]?: string };

  it('names the route of requests answered before their handler', async () => {
    installFrameworkRouteHooks();
    const seen: Array<string | undefined> = [];
    const app = fastify({ logger: false });
    app.addHook('onResponse', (request, _reply, done) => {
      seen.push((request.raw as RawWithRoute)[FRAMEWORK_ROUTE]);
      done();
    });
    app.get('/private/:name', { onRequest: (_request, reply, _done) => void reply.code(401).send('no') }, () => 'never');
    app.post('/strict/:name', { schema: { body: { type: 'object', required: ['name'] } } }, async () => 'valid');
    try {
      expect((await app.inject({ method: 'GET', url: '/private/x' })).statusCode).toBe(401);
      expect((await app.inject({ method: 'POST', url: '/strict/y', payload: { other: 1 } })).statusCode).toBe(400);
    } finally {
      await app.close();
    }
    expect(seen).toEqual(['/private/:name', '/strict/:name']);
  });

  it('ignores what is not a Fastify instance and never throws', () => {
    expect(() => onFastifyInitialization(undefined)).not.toThrow();
    expect(() => onFastifyInitialization({ fastify: {} })).not.toThrow();
    expect(() =>
      onFastifyInitialization({
        fastify: {
          addHook: () => {
            throw new Error('already listening');
          },
        },
      }),
    ).not.toThrow();
  });
});
