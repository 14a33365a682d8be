import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface WebhookReceiver<T> {
  /** the receiver's URL, at `path` */
  url(path?: string): string;
  /** every JSON body posted, in order */
  received: T[];
  close(): Promise<void>;
}

/** An HTTP server on a free port that takes JSON posts (alert webhooks) and keeps their bodies. */
export async function webhookReceiver<T>(): Promise<WebhookReceiver<T>> {
  const received: T[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body) as T);
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
