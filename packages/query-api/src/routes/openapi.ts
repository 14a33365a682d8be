import fs from 'node:fs';
import path from 'node:path';
import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';

const PACKAGE_JSON = path.join(__dirname, '..', '..', 'package.json');

/**
 * The API's OpenAPI 3.1 document at GET /openapi.json, generated from the same TypeBox schemas
 * that validate its requests and serialise its answers (schemas.ts): it cannot drift from them.
 * Registered before the routes, which it then describes as they are added.
 */
export function registerOpenApi(app: FastifyInstance): void {
  const { version } = JSON.parse(fs.readFileSync(PACKAGE_JSON, 'utf8')) as { version: string };
  app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'otel-bandwidth query API',
        version,
        description:
          'Per-endpoint HTTP bandwidth, requests and latency of the services otel-bandwidth instruments: realtime minutes from Redis, hours and days from MySQL. Times are UTC, in ISO 8601; bytes are body bytes unless a field says wire.',
      },
    },
  });
  app.register(async (scope) => {
    scope.get('/openapi.json', { schema: { hide: true } }, async () => withOptionalDefaults(app.swagger() as OpenApiDocument));
  });
}

interface OpenApiDocument {
  paths?: Record<string, Record<string, { parameters?: Array<{ required?: boolean; schema?: { default?: unknown } }> }>>;
}

/**
 * A query parameter with a default may be left out: TypeBox lists it as required (so the
 * handlers' types have it, the default filled in by validation), and the document would say a
 * client must send it.
 */
function withOptionalDefaults(doc: OpenApiDocument): OpenApiDocument {
  for (const operations of Object.values(doc.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const p of operation.parameters ?? []) if (p.schema?.default !== undefined) p.required = false;
    }
  }
  return doc;
}
