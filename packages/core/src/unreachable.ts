import { redactUrl } from './config';

export type BackingService = 'Redis' | 'MySQL';

const COMPOSE_SERVICE: Record<BackingService, string> = { Redis: 'redis', MySQL: 'mysql' };

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'PROTOCOL_CONNECTION_LOST',
]);

/**
 * True when an error means the server could not be reached at all (as opposed to a bad query).
 * Looks through `errors` (AggregateError) and `cause`: drizzle wraps the driver's error in one of
 * its own ("Failed query: ...") with the network error as its cause.
 */
export function isUnreachableError(err: unknown): boolean {
  return unreachableAt(err, 0);
}

function unreachableAt(err: unknown, depth: number): boolean {
  if (typeof err !== 'object' || err === null || depth > 8) return false;
  const e = err as { code?: unknown; message?: unknown; errors?: unknown; cause?: unknown };
  if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) return true;
  if (Array.isArray(e.errors) && e.errors.some((x) => unreachableAt(x, depth + 1))) return true;
  // ioredis' own words for a server gone (closed, retried out) or silent (its commandTimeout)
  if (typeof e.message === 'string' && /ECONNREFUSED|connect ETIMEDOUT|Connection is closed|max retries|getaddrinfo|Command timed out/i.test(e.message)) return true;
  return unreachableAt(e.cause, depth + 1);
}

/** One clear line for a person: which service, where, why, and how to start it. */
export function unreachableMessage(service: BackingService, url: string, err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | undefined;
  const why = typeof e?.code === 'string' ? e.code : typeof e?.message === 'string' ? e.message : String(err);
  return (
    `${service} at ${redactUrl(url)} does not answer (${why}). ` +
    `Start it (for example \`docker compose up -d ${COMPOSE_SERVICE[service]}\`) or point ` +
    `${service === 'Redis' ? 'REDIS_URL' : 'MYSQL_URL'} at a running server.`
  );
}

export class ServiceUnreachableError extends Error {
  constructor(
    readonly service: BackingService,
    readonly url: string,
    cause: unknown,
  ) {
    super(unreachableMessage(service, url, cause), { cause });
    this.name = 'ServiceUnreachableError';
  }
}
