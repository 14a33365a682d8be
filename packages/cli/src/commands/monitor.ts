import { DEFAULT_API_PORT, type AlertsResponse, type RealtimeResponse, type StatusResponse } from '@otel-bandwidth/query-api';
import { apiBaseUrl, apiToken, fetchJson, type ApiRequest } from '../api-json';
import { API_CLIENT_ENVIRONMENT_HELP, helpOrOptions, readOptions, type Command } from '../command';
import { renderMonitor, type MonitorFrame } from '../monitor-view';

interface MonitorOptions {
  apiUrl: string;
  minutes: number;
  service: string | undefined;
  top: number;
  intervalSeconds: number;
  once: boolean;
  /** the API's bearer token, if it wants one */
  token: string | undefined;
}

function parseMonitorArgs(args: string[], env: NodeJS.ProcessEnv): MonitorOptions {
  const opts: MonitorOptions = {
    apiUrl: env.OTEL_BANDWIDTH_API_URL || `http://127.0.0.1:${DEFAULT_API_PORT}`,
    minutes: 5,
    service: undefined,
    top: 10,
    intervalSeconds: 2,
    once: false,
    token: undefined,
  };
  let token: string | undefined;
  readOptions('monitor', args, (a, value, whole) => {
    if (a === '--api') opts.apiUrl = value();
    else if (a === '--token') token = value();
    else if (a === '--minutes') opts.minutes = whole(1, 60);
    else if (a === '--service') opts.service = value();
    else if (a === '--top') opts.top = whole(1, 1000);
    else if (a === '--interval') opts.intervalSeconds = whole(1, 3600);
    else if (a === '--once') opts.once = true;
    else return false;
    return true;
  });
  opts.token = apiToken(token, env);
  opts.apiUrl = apiBaseUrl(opts.apiUrl, `http://127.0.0.1:${DEFAULT_API_PORT}`);
  return opts;
}

async function frameOf(opts: MonitorOptions, live: boolean, quit?: AbortSignal): Promise<MonitorFrame> {
  // longer than the API's own wait on a silent Redis (2 s), so that its 503 is what is shown
  const request: ApiRequest = { timeoutMs: 5000, ...(quit === undefined ? {} : { quit }), ...(opts.token === undefined ? {} : { token: opts.token }) };
  const query = new URLSearchParams({ minutes: String(opts.minutes) });
  if (opts.service !== undefined) query.set('service', opts.service);
  const alertsQuery = new URLSearchParams({ status: 'open', limit: '5' });
  if (opts.service !== undefined) alertsQuery.set('service', opts.service);
  const [realtime, status, alerts] = await Promise.all([
    fetchJson<RealtimeResponse>(`${opts.apiUrl}/metrics/realtime?${query}`, request),
    fetchJson<StatusResponse>(`${opts.apiUrl}/metrics/status`, request),
    // an API older than alerts answers 404: then the view has no alerts section
    fetchJson<AlertsResponse>(`${opts.apiUrl}/metrics/alerts?${alertsQuery}`, request, true),
  ]);
  return { apiUrl: opts.apiUrl, nowMs: Date.now(), realtime, status, alerts, top: opts.top, intervalSeconds: opts.intervalSeconds, live };
}

export const monitorCommand: Command = {
  name: 'monitor',
  summary: 'watch the pipeline, the open alerts and the top endpoints in the terminal',
  help: `Usage: otel-bandwidth monitor [--api URL] [--token T] [--minutes 5] [--service NAME] [--top 10] [--interval 2] [--once]

Shows, from the query API, the pipeline's state (/metrics/status: backlog, its age, the active
aggregators, dead letters, the last persist and any problem), the open alerts (/metrics/alerts:
the 5 newest, their severity, rule, what they watch, value and threshold a second, since when)
and the last minutes' traffic (/metrics/realtime: bandwidth, requests and errors a second, average
and p95 latency, and the endpoints that cost the most bandwidth). On a terminal it redraws every --interval seconds until q or Ctrl-C;
otherwise, or with --once, it prints one view and exits: status 1 when the API cannot be read.

  --api URL        the query API (default OTEL_BANDWIDTH_API_URL, else http://127.0.0.1:${DEFAULT_API_PORT})
  --minutes N      the traffic window, 1-60 (default 5)
  --service NAME   one service only
  --top N          endpoints listed (default 10)
  --interval S     seconds between views (default 2)
  --once           one view, then exit
  --token T        the API's bearer token, if it wants one (default OTEL_BANDWIDTH_API_TOKEN)

${API_CLIENT_ENVIRONMENT_HELP}`,
  async run(args) {
    const opts = helpOrOptions(this, args, () => parseMonitorArgs(args, process.env));
    if ('exitCode' in opts) return opts.exitCode;
    const live = !opts.once && process.stdout.isTTY === true;
    if (!live) {
      const frame = await frameOf(opts, false);
      process.stdout.write(`${renderMonitor(frame).join('\n')}\n`);
      return 'error' in frame.realtime || 'error' in frame.status ? 1 : 0;
    }
    let stopped = false;
    // quitting also cuts short the requests under way (an API that hangs must not hold the monitor)
    const quitting = new AbortController();
    const keys = process.stdin.isTTY === true ? process.stdin : undefined;
    const stop = new Promise<void>((resolve) => {
      const quit = (): void => {
        stopped = true;
        quitting.abort();
        resolve();
      };
      process.once('SIGINT', quit);
      process.once('SIGTERM', quit);
      // q quits, as does Ctrl-C (a key, not a signal, while the terminal is in raw mode)
      keys?.setRawMode(true);
      keys?.resume();
      keys?.on('data', (key: Buffer) => {
        if (key.includes(0x71) || key.includes(0x51) || key.includes(0x03)) quit();
      });
    });
    // the alternate screen, cursor hidden, while it runs; the terminal as it was afterwards
    process.stdout.write('\x1b[?1049h\x1b[?25l');
    try {
      while (!stopped) {
        const frame = await frameOf(opts, true, quitting.signal);
        if (stopped) break;
        process.stdout.write(`\x1b[H\x1b[2J${renderMonitor(frame).join('\n')}\n`);
        let wait: NodeJS.Timeout | undefined;
        await Promise.race([stop, new Promise((resolve) => (wait = setTimeout(resolve, opts.intervalSeconds * 1000)))]);
        clearTimeout(wait);
      }
    } finally {
      process.stdout.write('\x1b[?25h\x1b[?1049l');
      keys?.setRawMode(false);
      keys?.pause();
    }
    return 0;
  },
};
