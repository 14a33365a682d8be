import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import type { MysqlConnection } from '@otel-bandwidth/storage';
import type { PreloadStats } from '../../packages/instrumentation/src/register';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const REGISTER = path.join(REPO_ROOT, 'packages', 'instrumentation', 'dist', 'register.js');

export interface InstrumentedProcess {
  child: ChildProcess;
  port: number;
  stderr: () => string;
  /** SIGTERM, then the exit code */
  stop(): Promise<number | null>;
}

const started = new Set<ChildProcess>();

/** Kills what a failed test left running. */
export async function stopAllInstrumented(): Promise<void> {
  await Promise.all(
    [...started].map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
  started.clear();
}

/** Starts a script under the preload (built packages) and waits for it to report its port over IPC. */
export function startInstrumented(script: string, env: Record<string, string>, preload: string = REGISTER): Promise<InstrumentedProcess> {
  const child = fork(script, [], {
    cwd: path.dirname(script),
    execArgv: ['--unhandled-rejections=strict', '--require', preload],
    env: { ...process.env, OTEL_METRIC_EXPORT_INTERVAL: '200', ...env },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  started.add(child);
  child.once('exit', () => started.delete(child));
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not listen within 10 s: ${stderr}`)), 10_000);
    child.once('message', (m: unknown) => {
      clearTimeout(timer);
      resolve({
        child,
        port: (m as { listening: number }).listening,
        stderr: () => stderr,
        stop: () =>
          new Promise((res) => {
            if (child.exitCode !== null) return res(child.exitCode);
            child.once('exit', (code) => res(code));
            child.kill('SIGTERM');
          }),
      });
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before listening: ${stderr}`)));
  });
}

export interface ClientResult {
  status: number;
  /** request body bytes the client sent */
  sent: number;
  /** response body bytes the client received */
  received: number;
}

/** One request; counts what went out and came back, independently of the server. */
export function request(port: number, method: string, urlPath: string, body?: string | Buffer, headers: Record<string, string> = {}): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const payload = typeof body === 'string' ? Buffer.from(body) : body;
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: urlPath,
        headers: payload ? { 'content-length': String(payload.length), ...headers } : headers,
      },
      (res) => {
        let received = 0;
        res.on('data', (c: Buffer) => {
          received += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, sent: payload?.length ?? 0, received }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** Requests and body bytes as a client counted them: inbound what it sent, outbound what came back. */
export interface ClientTotals {
  requests: number;
  inbound: number;
  outbound: number;
}

export function clientTotals(results: ClientResult[]): ClientTotals {
  return results.reduce((t, x) => ({ requests: t.requests + 1, inbound: t.inbound + x.sent, outbound: t.outbound + x.received }), { requests: 0, inbound: 0, outbound: 0 });
}

/** What metrics_hourly holds for `service`, in the same shape as a client's count. */
export async function storedTotals(conn: MysqlConnection, service: string): Promise<ClientTotals> {
  const [rows] = await conn.pool.query(
    'SELECT SUM(total_requests) AS requests, SUM(total_inbound) AS inbound, SUM(total_outbound) AS outbound FROM metrics_hourly WHERE service = ?',
    [service],
  );
  const x = (rows as Array<Record<string, unknown>>)[0] ?? {};
  return { requests: Number(x.requests ?? 0), inbound: Number(x.inbound ?? 0), outbound: Number(x.outbound ?? 0) };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The preload's own counters, asked over IPC of an app that answers "stats" with them
 * (test/e2e/fixtures/echo-with-stats.js).
 */
export function preloadStatsOf(app: InstrumentedProcess): Promise<PreloadStats> {
  return new Promise((resolve) => {
    const on = (m: unknown): void => {
      const s = (m as { stats?: PreloadStats }).stats;
      if (!s) return;
      app.child.off('message', on);
      resolve(s);
    };
    app.child.on('message', on);
    app.child.send('stats');
  });
}
