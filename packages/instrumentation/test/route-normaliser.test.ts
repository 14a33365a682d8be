import { isIdSegment, normalisePath, routeOf } from '@otel-bandwidth/instrumentation';
import type { IncomingMessage } from 'node:http';
import { urlHash } from '../src/url-hash';

describe('normalisePath', () => {
  it.each([
    ['/', '/'],
    ['/users/42', '/users/:id'],
    ['/users/42/orders/7?page=2', '/users/:id/orders/:id'],
    ['/items/550e8400-e29b-41d4-a716-446655440000', '/items/:id'],
    ['/blobs/9f86d081884c7d659a2feaa0c55ad015', '/blobs/:id'],
    ['/objects/507f1f77bcf86cd799439011', '/objects/:id'],
    ['/t/V1StGXR8_Z5jdHi6B-myT0', '/t/:id'],
    ['/api/v2/products', '/api/v2/products'],
    ['/static/app.js', '/static/app.js'],
    ['/search?q=42', '/search'],
    ['/page#frag', '/page'],
    ['http://evil.example/x', '/'],
  ])('%s -> %s', (url, route) => {
    expect(normalisePath(url)).toBe(route);
  });

  it('keeps words, versions and short hex-looking words', () => {
    expect(isIdSegment('v2')).toBe(false);
    expect(isIdSegment('decade')).toBe(false);
    expect(isIdSegment('products')).toBe(false);
    expect(isIdSegment('2024')).toBe(true);
  });

  it('answers URLs that share a front-cache slot, alternately, each with its own route', () => {
    // the first URL of the form /x/<n>/q/a that falls in the slot of /y/abc/q/a (512 slots)
    const b = '/y/abc/q/a';
    let n = 0;
    while ((urlHash(`/x/${n}/q/a`) & 511) !== (urlHash(b) & 511)) n++;
    const a = `/x/${n}/q/a`;
    for (let i = 0; i < 3; i++) {
      expect(normalisePath(a)).toBe('/x/:id/q/a');
      expect(normalisePath(b)).toBe('/y/abc/q/a');
    }
  });

  it('caps a route at 255 characters', () => {
    expect(normalisePath('/' + 'a'.repeat(400))).toHaveLength(255);
  });
});

describe('routeOf', () => {
  const req = (o: Record<string, unknown>) => o as unknown as IncomingMessage;
  it('uses the Express route below its mount path', () => {
    expect(routeOf(req({ route: { path: '/products/:id' }, baseUrl: '/api', originalUrl: '/api/products/3', url: '/products/3' }), 200)).toBe('/api/products/:id');
  });
  it('recovers the mount path when an error left the router', () => {
    expect(routeOf(req({ route: { path: '/fail' }, baseUrl: '', originalUrl: '/api/fail', url: '/fail' }), 500)).toBe('/api/fail');
  });
  it('normalises ids inside a mount path', () => {
    expect(routeOf(req({ route: { path: '/items' }, baseUrl: '/tenants/17', originalUrl: '/tenants/17/items', url: '/items' }), 200)).toBe('/tenants/:id/items');
  });
  it('folds 404s without a route into one series', () => {
    expect(routeOf(req({ url: '/wp-admin/setup.php' }), 404)).toBe('(unmatched)');
  });
  it('normalises paths without a framework route', () => {
    expect(routeOf(req({ url: '/users/12?x=1' }), 200)).toBe('/users/:id');
  });
});
