import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PROMETHEUS_TEXT_CONTENT_TYPE, renderPrometheusText, type MetricFamily } from '@otel-bandwidth/core';
import type { MetricsListen } from './aggregator-config';

/** A server answering GET /metrics for Prometheus to scrape. */
export interface MetricsServer {
  /** where to scrape it: http://host:port/metrics */
  readonly url: string;
  /** Stops listening and ends its connections (a scraper keeps its connection alive). */
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: string, headers: http.OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': status === 200 ? PROMETHEUS_TEXT_CONTENT_TYPE : 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * Serves the families read at each scrape on GET (and HEAD) /metrics, in Prometheus' text format;
 * 404 elsewhere, 405 for other methods. node:http alone: nothing else runs in it, and nothing
 * in it is global, so a process may run several. Rejects when it cannot listen (the port is taken, say).
 */
export async function startMetricsServer(listen: MetricsListen, families: () => readonly MetricFamily[]): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') return send(res, 404, 'not found: the metrics are at GET /metrics\n');
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'GET /metrics\n', { allow: 'GET, HEAD' });
    let text: string;
    try {
      text = renderPrometheusText(families());
    } catch (err) {
      return send(res, 500, `cannot render the metrics: ${(err as Error).message}\n`);
    }
    return send(res, 200, text);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listen.port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  // an idle scrape connection must not keep a stopping process alive
  server.unref();
  const { port } = server.address() as AddressInfo;
  const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
