import fs from 'node:fs';
import path from 'node:path';
import type { FastifyPluginAsync } from 'fastify';

/** The dashboard's files, in the package's assets folder (shipped with it: package.json "files"). */
const ASSETS = path.join(__dirname, '..', '..', 'assets');

const FILES = {
  '/dashboard': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
} as const;

/**
 * Only the page's own files, and requests to its own origin: the page never loads anything from
 * elsewhere, and a text from the API that slipped into markup could run no script.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * GET /dashboard: the web dashboard, a page and its script and style read once from the assets,
 * which reads the API's own /metrics/* routes. GET / sends a browser there.
 */
export function dashboardRoutes(): FastifyPluginAsync {
  return async (app) => {
    const bodies = new Map(Object.entries(FILES).map(([url, f]) => [url, { ...f, body: fs.readFileSync(path.join(ASSETS, f.file)) }]));
    for (const [url, f] of bodies) {
      app.get(url, { schema: { hide: true } }, async (_req, reply) =>
        reply
          .header('content-type', f.type)
          .header('content-security-policy', CONTENT_SECURITY_POLICY)
          .header('x-content-type-options', 'nosniff')
          .header('cache-control', 'no-cache')
          .send(f.body),
      );
    }
    app.get('/', { schema: { hide: true } }, async (_req, reply) => reply.redirect('dashboard', 302));
    // browsers ask for it on every page: no icon, rather than a 404 in their console
    app.get('/favicon.ico', { schema: { hide: true } }, async (_req, reply) => reply.code(204).send());
  };
}
