/**
 * An HTTP/1.1 client on a raw socket that counts, independently of Node's HTTP stack, every byte
 * it sends and receives, and the body bytes inside them (de-chunked, none for HEAD/204/304).
 */
import net from 'node:net';

export interface RawResponse {
  status: number;
  /** response body bytes as sent (compressed if the server compressed) */
  bodyBytes: number;
}

export interface RawExchange {
  /** request body bytes sent */
  bodySent: number;
  /** every byte this exchange put on the wire */
  wireSent: number;
  /** every byte received for this exchange, interim 1xx responses included */
  wireReceived: number;
  responses: RawResponse[];
}

type Parsed = { kind: 'incomplete' } | { kind: 'done'; consumed: number; status: number; bodyBytes: number };

/** Parses one response at the start of buf. */
function parseResponse(buf: Buffer, head: boolean, closed: boolean): Parsed {
  const end = buf.indexOf('\r\n\r\n');
  if (end === -1) return { kind: 'incomplete' };
  const lines = buf.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number((lines[0] ?? '').split(' ')[1]);
  const headers = new Map<string, string>();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(':');
    headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
  }
  let pos = end + 4;
  if (status >= 100 && status < 200) return { kind: 'done', consumed: pos, status, bodyBytes: 0 };
  if (head || status === 204 || status === 304) return { kind: 'done', consumed: pos, status, bodyBytes: 0 };
  if ((headers.get('transfer-encoding') ?? '').includes('chunked')) {
    let body = 0;
    for (;;) {
      const lineEnd = buf.indexOf('\r\n', pos);
      if (lineEnd === -1) return { kind: 'incomplete' };
      const size = parseInt(buf.subarray(pos, lineEnd).toString('latin1'), 16);
      if (size === 0) {
        const trailerEnd = buf.indexOf('\r\n\r\n', lineEnd);
        if (trailerEnd === -1) {
          if (buf.length >= lineEnd + 4 && buf.subarray(lineEnd + 2, lineEnd + 4).toString() === '\r\n') return { kind: 'done', consumed: lineEnd + 4, status, bodyBytes: body };
          return { kind: 'incomplete' };
        }
        return { kind: 'done', consumed: trailerEnd + 4, status, bodyBytes: body };
      }
      if (buf.length < lineEnd + 2 + size + 2) return { kind: 'incomplete' };
      body += size;
      pos = lineEnd + 2 + size + 2;
    }
  }
  const length = headers.get('content-length');
  if (length !== undefined) {
    const n = Number(length);
    return buf.length >= pos + n ? { kind: 'done', consumed: pos + n, status, bodyBytes: n } : { kind: 'incomplete' };
  }
  return closed ? { kind: 'done', consumed: buf.length, status, bodyBytes: buf.length - pos } : { kind: 'incomplete' };
}

export class RawHttpConnection {
  private socket!: net.Socket;
  private buffer = Buffer.alloc(0);
  private closed = false;
  private wake: (() => void) | undefined;

  static async open(port: number): Promise<RawHttpConnection> {
    const c = new RawHttpConnection();
    await new Promise<void>((resolve, reject) => {
      c.socket = net.connect(port, '127.0.0.1', resolve);
      c.socket.once('error', reject);
    });
    c.socket.on('data', (d: Buffer) => {
      c.buffer = Buffer.concat([c.buffer, d]);
      c.wake?.();
    });
    c.socket.on('close', () => {
      c.closed = true;
      c.wake?.();
    });
    return c;
  }

  private async until<T>(check: () => T | undefined): Promise<T> {
    for (;;) {
      const v = check();
      if (v !== undefined) return v;
      if (this.closed) throw new Error('connection closed before the response was complete');
      await new Promise<void>((r) => (this.wake = r));
      this.wake = undefined;
    }
  }

  private async readResponse(head: boolean, wire: { received: number }): Promise<RawResponse> {
    return this.until(() => {
      const p = parseResponse(this.buffer, head, this.closed);
      if (p.kind === 'incomplete') return undefined;
      this.buffer = this.buffer.subarray(p.consumed);
      wire.received += p.consumed;
      return { status: p.status, bodyBytes: p.bodyBytes };
    });
  }

  private send(data: Buffer): void {
    this.socket.write(data);
  }

  /**
   * Sends a request (head, then the body parts) and reads its response. With expectContinue the
   * body goes only after the interim 100 response.
   */
  async exchange(requestHead: string, bodyParts: Array<Buffer | string> = [], options: { head?: boolean; expectContinue?: boolean; chunked?: boolean } = {}): Promise<RawExchange> {
    const wire = { sent: 0, received: 0 };
    const responses: RawResponse[] = [];
    const headBytes = Buffer.from(requestHead, 'latin1');
    this.send(headBytes);
    wire.sent += headBytes.length;
    if (options.expectContinue) {
      const interim = await this.readResponse(false, wire);
      responses.push(interim);
      if (interim.status !== 100) return { bodySent: 0, wireSent: wire.sent, wireReceived: wire.received, responses };
    }
    let bodySent = 0;
    for (const part of bodyParts) {
      const b = typeof part === 'string' ? Buffer.from(part) : part;
      bodySent += b.length;
      const framed = options.chunked ? Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n')]) : b;
      this.send(framed);
      wire.sent += framed.length;
    }
    if (options.chunked) {
      this.send(Buffer.from('0\r\n\r\n'));
      wire.sent += 5;
    }
    for (;;) {
      const r = await this.readResponse(options.head === true, wire);
      responses.push(r);
      if (r.status >= 200) break;
    }
    return { bodySent, wireSent: wire.sent, wireReceived: wire.received, responses };
  }

  /**
   * Pipelining: sends every request head in one write before reading anything, then reads their
   * responses in order. The server answers them one after another on the connection, queueing
   * the responses it produces ahead of their turn.
   */
  async pipeline(requestHeads: string[]): Promise<{ wireSent: number; wireReceived: number; responses: RawResponse[] }> {
    const all = Buffer.from(requestHeads.join(''), 'latin1');
    this.send(all);
    const wire = { received: 0 };
    const responses: RawResponse[] = [];
    for (let i = 0; i < requestHeads.length; i++) responses.push(await this.readResponse(false, wire));
    return { wireSent: all.length, wireReceived: wire.received, responses };
  }

  /** Sends a request, reads until `bodyBytes` of body arrived whole, then drops the connection. */
  async abandonAfter(requestHead: string, bodyBytes: number): Promise<{ wireSent: number; wireReceived: number; bodyReceived: number }> {
    const headBytes = Buffer.from(requestHead, 'latin1');
    this.send(headBytes);
    const result = await this.until(() => {
      const end = this.buffer.indexOf('\r\n\r\n');
      if (end === -1) return undefined;
      // one chunk of exactly bodyBytes: "<hex>\r\n<data>\r\n"
      const sizeLine = `${bodyBytes.toString(16)}\r\n`;
      const complete = end + 4 + sizeLine.length + bodyBytes + 2;
      return this.buffer.length >= complete ? { wireReceived: this.buffer.length, bodyReceived: bodyBytes } : undefined;
    });
    this.socket.destroy();
    await new Promise((r) => setImmediate(r));
    return { wireSent: headBytes.length, ...result };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.socket.end();
    await this.until(() => (this.closed ? true : undefined)).catch(() => undefined);
  }
}

export function requestHead(method: string, path: string, headers: Record<string, string> = {}): string {
  const all = { host: '127.0.0.1', ...headers };
  return `${method} ${path} HTTP/1.1\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}
