/**
 * Drives HTTP traffic at a server and counts, on the client side, what it sent and received per
 * endpoint: the independent count the pipeline's numbers are compared with.
 */
import http from 'node:http';
import https from 'node:https';

export interface TrafficTarget {
  /** the route template the server should report */
  endpoint: string;
  method: string;
  path: () => string;
  body?: () => string | Buffer;
  /** the body's content-type (default application/json) */
  contentType?: string;
  /** more request headers */
  headers?: Readonly<Record<string, string>>;
  weight: number;
}

export interface EndpointCount {
  endpoint: string;
  method: string;
  requests: number;
  /** request body bytes sent */
  bytesSent: number;
  /** response body bytes received */
  bytesReceived: number;
  latencySumMs: number;
  /** each answered request's latency as the generator saw it, ms (network and client included) */
  latenciesMs: number[];
  failures: number;
}

export interface TrafficOptions {
  baseUrl: string;
  /** sends `x-user-id: user-<n>` with n drawn from 1..users (none when 0 or absent) */
  users?: number;
  durationMs: number;
  concurrency: number;
  targets: TrafficTarget[];
  onProgress?: (elapsedMs: number, requests: number) => void;
}

function pick(targets: TrafficTarget[], total: number): TrafficTarget {
  let r = Math.random() * total;
  for (const t of targets) {
    r -= t.weight;
    if (r < 0) return t;
  }
  return targets[targets.length - 1] as TrafficTarget;
}

function send(agent: http.Agent, base: URL, t: TrafficTarget, user: string | undefined): Promise<{ sent: number; received: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const body = t.body?.();
    const started = performance.now();
    const req = (base.protocol === 'https:' ? https : http).request(
      {
        host: base.hostname,
        port: base.port,
        method: t.method,
        path: t.path(),
        agent,
        headers: {
          ...t.headers,
          ...(body === undefined ? {} : { 'content-type': t.contentType ?? 'application/json', 'content-length': Buffer.byteLength(body) }),
          ...(user === undefined ? {} : { 'x-user-id': user }),
        },
      },
      (res) => {
        let received = 0;
        res.on('data', (chunk: Buffer) => {
          received += chunk.length;
        });
        res.on('end', () => resolve({ sent: body === undefined ? 0 : Buffer.byteLength(body), received, ms: performance.now() - started }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export interface TrafficResult {
  endpoints: EndpointCount[];
  /** distinct user ids sent */
  users: number;
  /** why the first request that failed did (a connection refused, reset ...), if one did */
  firstFailure?: string;
}

export async function driveTraffic(options: TrafficOptions): Promise<TrafficResult> {
  const base = new URL(options.baseUrl);
  const agent = new (base.protocol === 'https:' ? https : http).Agent({ keepAlive: true, maxSockets: options.concurrency });
  const counts = new Map<string, EndpointCount>();
  const total = options.targets.reduce((s, t) => s + t.weight, 0);
  const start = performance.now();
  const deadline = start + options.durationMs;
  let requests = 0;
  const usersSeen = new Set<string>();
  let firstFailure: string | undefined;
  const progress = setInterval(() => options.onProgress?.(performance.now() - start, requests), 200);
  const worker = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const t = pick(options.targets, total);
      const key = `${t.method} ${t.endpoint}`;
      let c = counts.get(key);
      if (!c) {
        c = { endpoint: t.endpoint, method: t.method, requests: 0, bytesSent: 0, bytesReceived: 0, latencySumMs: 0, latenciesMs: [], failures: 0 };
        counts.set(key, c);
      }
      try {
        const user = options.users ? `user-${1 + Math.floor(Math.random() * options.users)}` : undefined;
        if (user !== undefined) usersSeen.add(user);
        const r = await send(agent, base, t, user);
        c.requests++;
        c.bytesSent += r.sent;
        c.bytesReceived += r.received;
        c.latencySumMs += r.ms;
        c.latenciesMs.push(r.ms);
        requests++;
      } catch (err) {
        c.failures++;
        firstFailure ??= (err as { code?: string }).code ?? (err as Error).message;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: options.concurrency }, worker));
  } finally {
    clearInterval(progress);
    options.onProgress?.(Math.min(performance.now() - start, options.durationMs), requests);
    agent.destroy();
  }
  return { endpoints: [...counts.values()], users: usersSeen.size, ...(firstFailure === undefined ? {} : { firstFailure }) };
}
