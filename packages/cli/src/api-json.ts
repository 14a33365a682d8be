/**
 * Reading the query API's JSON from the commands that are its clients (monitor, loadtest): one
 * answer or why not, in words a user can act on, never a thrown error.
 */
export interface ApiRequest {
  timeoutMs: number;
  /** cuts the request short */
  quit?: AbortSignal;
  /** sent as `Authorization: Bearer <token>` (an API with OTEL_BANDWIDTH_API_TOKENS wants one) */
  token?: string;
}

/**
 * The query API's base URL as a client takes it: http(s), and a path prefix allowed (an API behind
 * a reverse proxy at /otel-bandwidth, say), without the trailing slash.
 */
export function apiBaseUrl(text: string, example: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error(`the API's URL "${text}" is not a URL (for example ${example})`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`the API's URL "${text}" must be http: or https:`);
  return text.replace(/\/+$/, '');
}

/** The token the API's clients send: --token, else OTEL_BANDWIDTH_API_TOKEN. */
export function apiToken(option: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  const token = (option ?? env.OTEL_BANDWIDTH_API_TOKEN ?? '').trim();
  return token === '' ? undefined : token;
}

/**
 * One endpoint's JSON, or why not: the API down (and where), or its own error message; undefined
 * when `optional` and the API answers 404 (one older than the endpoint).
 */
export async function fetchJson<T>(url: string, request: ApiRequest): Promise<T | { error: string }>;
export async function fetchJson<T>(url: string, request: ApiRequest, optional: true): Promise<T | { error: string } | undefined>;
export async function fetchJson<T>(url: string, { timeoutMs, quit, token }: ApiRequest, optional = false): Promise<T | { error: string } | undefined> {
  let res: Response;
  try {
    const timeout = AbortSignal.timeout(timeoutMs);
    res = await fetch(url, {
      signal: quit === undefined ? timeout : AbortSignal.any([timeout, quit]),
      ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: unknown; message?: unknown } }).cause;
    if ((err as Error).name === 'TimeoutError') {
      // it took the connection: up, but stuck (on a store behind it, say)
      return { error: `the API at ${new URL(url).origin} did not answer ${new URL(url).pathname} within ${timeoutMs} ms; its GET /healthz says whether Redis and MySQL answer it` };
    }
    const why =
      typeof cause?.code === 'string'
          ? cause.code
          : typeof cause?.message === 'string'
            ? cause.message
            : (err as Error).message;
    return { error: `the API at ${new URL(url).origin} does not answer (${why}); start it with \`otel-bandwidth api\` or point --api at it` };
  }
  if (optional && res.status === 404) {
    await res.body?.cancel().catch(() => undefined);
    return undefined;
  }
  const body = (await res.json().catch(() => undefined)) as (T & { message?: unknown }) | undefined;
  if (res.status === 401) {
    const hint = token === undefined ? 'give it with --token or OTEL_BANDWIDTH_API_TOKEN' : 'the token given is not one of its OTEL_BANDWIDTH_API_TOKENS';
    return { error: `the API at ${new URL(url).origin} wants a bearer token: ${hint}` };
  }
  if (!res.ok || body === undefined) {
    return { error: `${new URL(url).pathname} answered ${res.status}${typeof body?.message === 'string' ? `: ${body.message}` : ''}` };
  }
  return body;
}
