import type { IncomingMessage } from 'node:http';
import { CONTEXT_ROUTE, FRAMEWORK_ROUTE, routeOf, setContextRoute, setFrameworkRoute } from '../src/route-template';

type Carrier = { url: string; [FRAMEWORK_ROUTE]?: string; [CONTEXT_ROUTE]?: string };

function plainRequest(url: string): Carrier {
  return { url };
}

describe('routeOf with routes left on the request', () => {
  it('takes the route OpenTelemetry named through setContextRoute, never for a 404', () => {
    const req = plainRequest('/things/red-box');
    setContextRoute(req, '/things/:name');
    expect(routeOf(req as unknown as IncomingMessage, 200)).toBe('/things/:name');
    expect(routeOf(req as unknown as IncomingMessage, 404)).toBe('(unmatched)');
    // a request nothing named falls back to its normalised path
    expect(routeOf(plainRequest('/orders/42?x=1') as unknown as IncomingMessage, 200)).toBe('/orders/:id');
  });

  it('prefers a framework template left through setFrameworkRoute, for a 404 too', () => {
    const req = plainRequest('/users/7');
    setContextRoute(req, '/from-context');
    setFrameworkRoute(req, '/users/:id');
    expect(routeOf(req as unknown as IncomingMessage, 200)).toBe('/users/:id');
    expect(routeOf(req as unknown as IncomingMessage, 404)).toBe('/users/:id');
  });

  it('shares what has been set with every copy of the module in the process', () => {
    jest.isolateModules(() => {
      // a second copy, as a preload beside the app's own import would load
      const other = require('../src/route-template') as typeof import('../src/route-template');
      const req = plainRequest('/items/9');
      // left by this copy's framework hook, read by the other copy
      setFrameworkRoute(req, '/items/:itemId');
      expect(other.routeOf(req as unknown as IncomingMessage, 200)).toBe('/items/:itemId');
      expect(other.FRAMEWORK_ROUTE).toBe(FRAMEWORK_ROUTE);
    });
  });
});
