/**
 * Bearer tokens for the query API (OTEL_BANDWIDTH_API_TOKENS): with any set, every route but
 * /healthz and the dashboard's own files (a page, its scripts and style, none of them data) wants
 * `Authorization: Bearer <one of them>`. Several tokens, so that one can be replaced without a
 * moment when neither works. Compared in constant time, as digests of equal length.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { DASHBOARD_PATHS } from './routes/dashboard';

/** The shortest token accepted: guessing 24 characters of a random token is out of reach. */
export const MIN_TOKEN_LENGTH = 24;
/** What a token may hold: RFC 6750's token68 characters. */
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;
/** Routes that answer without a token: the health check and the dashboard's files. */
const OPEN_PATHS = new Set(['/healthz', ...DASHBOARD_PATHS]);

/** The tokens of a comma-separated list, or why it cannot be used. */
export function parseTokens(list: string): { tokens: string[] } | { problem: string } {
  const tokens = list.split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (tokens.length === 0) return { problem: 'holds no token' };
  for (const [i, t] of tokens.entries()) {
    if (t.length < MIN_TOKEN_LENGTH) return { problem: `token ${i + 1} has ${t.length} characters; at least ${MIN_TOKEN_LENGTH} (for example: openssl rand -base64 32)` };
    if (!TOKEN.test(t)) return { problem: `token ${i + 1} holds a character a bearer token cannot (letters, digits and - . _ ~ + / only, = at the end)` };
  }
  return { tokens };
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest();

export class BearerTokens {
  private readonly digests: Buffer[];

  constructor(tokens: readonly string[]) {
    this.digests = tokens.map(digest);
  }

  /** Whether a request to `path` with this Authorization header may be answered. */
  allows(path: string, authorization: string | undefined): boolean {
    if (OPEN_PATHS.has(path)) return true;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (match === null) return false;
    const given = digest(match[1] as string);
    // every token compared, so the time does not tell which one nearly matched
    let ok = false;
    for (const d of this.digests) ok = timingSafeEqual(d, given) || ok;
    return ok;
  }
}
