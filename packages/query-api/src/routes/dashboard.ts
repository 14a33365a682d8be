import fs from 'node:fs';
import path from 'node:path';
import { DISPLAY_FORMATS } from '@otel-bandwidth/core';
import type { FastifyPluginAsync } from 'fastify';

/** The dashboard's files, in the package's assets folder (shipped with it: package.json "files"). */
const ASSETS = path.join(__dirname, '..', '..', 'assets');

const FILES = {
  '/dashboard': { file: 'dashboard.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
} as const;

const DASHBOARD_FORMAT_PATH = '/dashboard-format.js';

/** The dashboard's own files (page, scripts, style; none of them data), and / which sends a browser to it. */
export const DASHBOARD_PATHS: readonly string[] = ['/', ...Object.keys(FILES), DASHBOARD_FORMAT_PATH];

/**
 * The page's figures formatted as the terminal monitor formats them: @otel-bandwidth/core's
 * display formats, each function's own source, put on the window as `otelBandwidthFormat`
 * (DASHBOARD_FORMAT_PATH, loaded before dashboard.js). Built from the functions this process runs,
 * so the page and the monitor cannot format differently.
 */
export function dashboardFormatScript(): string {
  const members = Object.entries(DISPLAY_FORMATS).map(([name, fn]) => `  ${name}: ${fn.toString()},`);
  return `'use strict';\nwindow.otelBandwidthFormat = Object.freeze({\n${members.join('\n')}\n});\n`;
}

/**
 * Only the page's own files, and requests to its own origin: the page never loads anything from
 * elsewhere, and a text from the API that slipped into markup could run no script.
 */
const CONTENT_SECURITY_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * GET /dashboard: the web dashboard, a page and its script and style read once from the assets
 * (with the figures' formatting, from core), which reads the API's own /metrics/* routes. GET /
 * sends a browser there.
 */
export function dashboardRoutes(): FastifyPluginAsync {
  return async (app) => {
    const bodies = new Map<string, { type: string; body: string | Buffer }>(
      Object.entries(FILES).map(([url, f]) => [url, { type: f.type, body: fs.readFileSync(path.join(ASSETS, f.file)) }]),
    );
    bodies.set(DASHBOARD_FORMAT_PATH, { type: 'text/javascript; charset=utf-8', body: dashboardFormatScript() });
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
