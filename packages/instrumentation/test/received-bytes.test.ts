import http, { IncomingMessage } from 'node:http';
import { Socket, type AddressInfo } from 'node:net';

/**
 * Body bytes in, counted at the parser's body callback of each connection it is set on, and,
 * where a parser has no callback of the expected name, by the fallback wrapper on
 * IncomingMessage.prototype.push. Each case loads its own copy of the module (the mode is
 * chosen at the first parser seen); the fallback runs last and takes its wrapper off again.
 */
type ReceivedBytesModule = typeof import('../src/received-bytes');

function freshModule(): ReceivedBytesModule {
  let m: ReceivedBytesModule | undefined;
  jest.isolateModules(() => {
    m = jest.requireActual<ReceivedBytesModule>('../src/received-bytes');
  });
  return m as ReceivedBytesModule;
}

/** Starts a server whose first request on a connection sets `hook` on its parser; returns what each request counted. */
async function serve(onConnectionParser: (parser: unknown) => void, mod: ReceivedBytesModule, bodies: Array<string | string[]>): Promise<number[]> {
  const counted: number[] = [];
  const server = http.createServer((req, res) => {
    onConnectionParser((req.socket as unknown as { parser?: unknown }).parser);
    let read = 0;
    req.on('data', (c: Buffer) => (read += c.length));
    req.on('end', () => {
      counted.push((req as IncomingMessage & Record<symbol, number | undefined>)[mod.RECEIVED_BYTES] ?? 0);
      res.end(String(read));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  try {
    for (const body of bodies) {
      await new Promise<void>((resolve, reject) => {
        const req = http.request({ port: (server.address() as AddressInfo).port, method: 'POST', path: '/', agent }, (res) => {
          res.resume();
          res.on('end', resolve);
        });
        req.on('error', reject);
        // an array: chunked, one write each
        if (Array.isArray(body)) for (const part of body) req.write(part);
        req.end(Array.isArray(body) ? undefined : body);
      });
    }
  } finally {
    agent.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
  return counted;
}

describe('received body bytes', () => {
  it("counts at the parser's body callback: a keep-alive connection's requests each get their own count", async () => {
    const mod = freshModule();
    const counted = await serve((p) => mod.countParserBodies(p), mod, ['', 'a'.repeat(1000), ['xy', 'z'.repeat(70_000)], 'é']);
    expect(counted).toEqual([0, 1000, 70_002, 2]);
    // the prototype is untouched
    expect(Object.prototype.hasOwnProperty.call(IncomingMessage.prototype, 'push')).toBe(false);
  });

  it('a second copy of the module recognises the parsers the first set counting (the pool is per process)', async () => {
    const first = freshModule();
    expect(await serve((p) => first.countParserBodies(p), first, ['abc'])).toEqual([3]);
    // Node reuses the freed parser: it arrives with the first copy's wrapper on it
    const second = freshModule();
    expect(second.RECEIVED_BYTES).toBe(first.RECEIVED_BYTES);
    expect(await serve((p) => second.countParserBodies(p), second, ['defgh', ['1', '23']])).toEqual([5, 3]);
    expect(Object.prototype.hasOwnProperty.call(IncomingMessage.prototype, 'push')).toBe(false);
  });

  it('falls back to the wrapper on IncomingMessage.prototype.push when the parser has no body callback it knows', async () => {
    const mod = freshModule();
    try {
      mod.countParserBodies({ incoming: null }); // no parserOnBody among its callbacks
      expect(Object.prototype.hasOwnProperty.call(IncomingMessage.prototype, 'push')).toBe(true);
      // on messages of its own: the process's pooled parsers still count (the cases above)
      const message = new IncomingMessage(new Socket()) as IncomingMessage & Record<symbol, number | undefined>;
      message.push(Buffer.from('abc'));
      message.push('é', 'utf8');
      message.push(null);
      expect(message[mod.RECEIVED_BYTES]).toBe(5);
      expect(new IncomingMessage(new Socket())[mod.RECEIVED_BYTES as never]).toBeUndefined();
    } finally {
      // the wrapper would stay for the other test files of this jest worker, and count twice
      delete (IncomingMessage.prototype as { push?: unknown }).push;
    }
  });
});
