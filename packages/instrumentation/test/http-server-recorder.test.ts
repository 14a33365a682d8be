import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { startHttpServerRecorder } from '../src/http-server-recorder';
import { SERIES_FIELD, SeriesTable } from '../src/series-table';

/**
 * Node's server is not the only caller of ServerResponse.prototype.assignSocket: test harnesses
 * that fake requests (light-my-request, behind Fastify's inject) hand responses sockets of their
 * own making. The recorder's hooks on assignSocket/detachSocket must not throw into them; a
 * harness that hands the socket back as Node's server does (detachSocket) is recorded like any
 * response, one that never does (light-my-request) is not.
 */
/** A response to a GET of `url`, made as a test harness makes one, without Node's server. */
function fakeResponse(url = '/fake'): ServerResponse {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = url;
  return new ServerResponse(req);
}

describe('the server recorder under responses Node did not create', () => {
  const table = new SeriesTable(100);
  const recorder = startHttpServerRecorder(table);
  afterAll(() => recorder.stop());

  it('takes a socket without EventEmitter methods, and a stream standing in for one', () => {
    const bare = fakeResponse();
    // refused by Node's own assignSocket (it calls socket.on), before the recorder sees it
    expect(() => bare.assignSocket({ writable: true } as unknown as Socket)).toThrow(/is not a function/);
    const streamed = fakeResponse();
    const nullSocket = new Writable({ write: (_chunk, _encoding, done) => done() });
    expect(() => streamed.assignSocket(nullSocket as unknown as Socket)).not.toThrow();
    expect(() => streamed.end('hello')).not.toThrow();
    expect(() => streamed.detachSocket(nullSocket as unknown as Socket)).not.toThrow();
    expect(recorder.stats.internalErrors).toBe(0);
  });

  it('records the responses it saw start and finish, with the bytes they wrote', () => {
    const res = fakeResponse();
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    res.assignSocket(sink as unknown as Socket);
    res.end('12345');
    res.detachSocket(sink as unknown as Socket);
    const seen: Array<[unknown, number, number]> = [];
    table.drain((r) => seen.push([r.attributes['http.route'], r.count, r.readings().read(0, SERIES_FIELD.responseBytes)]));
    // this one and the stream-socket one above: 'hello' and '12345'
    expect(seen).toEqual([['/fake', 2, 10]]);
  });

  it('counts every chunk write() accepted, and leaves refusing the rest to Node', () => {
    const res = fakeResponse('/fake-writes');
    const sink = new Writable({ write: (_chunk, _encoding, done) => done() });
    res.assignSocket(sink as unknown as Socket);
    const errorCode = (write: () => unknown): unknown => {
      try {
        write();
      } catch (error) {
        return (error as { code?: unknown }).code;
      }
      return undefined;
    };
    // Node's own errors reach the app as before, and nothing is counted for them
    expect(errorCode(() => res.write({ length: 7 } as unknown as string))).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorCode(() => res.write(new Uint16Array(4) as unknown as Uint8Array))).toBe('ERR_INVALID_ARG_TYPE');
    expect(errorCode(() => res.write(null as unknown as string))).toBe('ERR_STREAM_NULL_VALUES');
    res.write(new Uint8Array(3));
    res.write(Buffer.from('abcd'));
    res.write('\u00e9', 'utf8');
    res.write('68690a', 'hex');
    res.end();
    res.detachSocket(sink as unknown as Socket);
    const seen: Array<[unknown, number, number]> = [];
    table.drain((r) => seen.push([r.attributes['http.route'], r.count, r.readings().read(0, SERIES_FIELD.responseBytes)]));
    // 3 + 4 + 2 (é in UTF-8) + 3 (three bytes in hex)
    expect(seen).toEqual([['/fake-writes', 1, 12]]);
    expect(recorder.stats.internalErrors).toBe(0);
  });
});

describe("a connection's requests to the URL of its last one", () => {
  const sink = (): Socket => new Writable({ write: (_chunk, _encoding, done) => done() }) as unknown as Socket;
  function respond(socket: Socket, url: string, status = 200): void {
    const res = fakeResponse(url);
    res.statusCode = status;
    res.assignSocket(socket);
    res.end('x');
    res.detachSocket(socket);
  }

  it('record into the series the last collection left, not one it freed', () => {
    const table = new SeriesTable(1);
    const recorder = startHttpServerRecorder(table);
    const drain = (): Array<[unknown, number]> => {
      const seen: Array<[unknown, number]> = [];
      table.drain((r) => seen.push([r.attributes['http.route'], r.count]));
      return seen;
    };
    try {
      const connection = sink();
      respond(sink(), '/first');
      // past the limit of one series: the overflow series, which the connection then remembers
      respond(connection, '/second');
      expect(drain()).toEqual([
        ['/first', 1],
        ['(overflow)', 1],
      ]);
      // twelve empty collections free both series
      for (let i = 0; i < 12; i++) expect(drain()).toEqual([]);
      expect(table.size).toBe(0);
      // with room again, /second gets a series of its own: the freed overflow record would lose these
      respond(connection, '/second');
      respond(connection, '/second');
      expect(drain()).toEqual([['/second', 2]]);
      expect(recorder.stats).toEqual({ requests: 4, aborted: 0, internalErrors: 0 });
    } finally {
      recorder.stop();
    }
  });

  it('record each of many URLs, taken in turn over several connections, into its own series', () => {
    const table = new SeriesTable(10_000);
    const recorder = startHttpServerRecorder(table);
    try {
      const connections = [sink(), sink(), sink()];
      // more URLs than the URL cache keeps (4,096), twice over, so it starts afresh on the way
      for (let round = 0; round < 2; round++) {
        for (let i = 0; i < 5000; i++) respond(connections[i % 3] as Socket, `/routes/r${i}?round=${round}`);
      }
      // one URL answered 200 and 404 in turn on one connection: two series
      for (let i = 0; i < 4; i++) respond(connections[0] as Socket, '/gone', i % 2 === 0 ? 200 : 404);
      const counts = new Map<unknown, number>();
      table.drain((r) => counts.set(r.attributes['http.route'], r.count));
      expect(counts.size).toBe(5002);
      expect(counts.get('/routes/r0')).toBe(2);
      expect(counts.get('/routes/r4999')).toBe(2);
      expect([...counts.values()].reduce((a, b) => a + b, 0)).toBe(10_004);
      expect(counts.get('/gone')).toBe(2);
      expect(counts.get('(unmatched)')).toBe(2);
      // the next interval's requests find their series again, under the table's new epoch
      for (let i = 0; i < 5000; i++) respond(connections[i % 3] as Socket, `/routes/r${i}?round=0`);
      let total = 0;
      table.drain((r) => {
        total += r.count;
        expect(r.count).toBe(1);
      });
      expect(total).toBe(5000);
      expect(recorder.stats).toEqual({ requests: 15_004, aborted: 0, internalErrors: 0 });
    } finally {
      recorder.stop();
    }
  });
});

describe('a stopped recorder', () => {
  it('leaves the responses written through its wrappers as Node made them', () => {
    const stopped = startHttpServerRecorder(new SeriesTable(10));
    stopped.stop();
    // no socket yet: the bytes a recording recorder would keep on the response itself
    const res = fakeResponse();
    res.write('early');
    res.end('bytes');
    expect(Object.getOwnPropertySymbols(res).filter((s) => String(s).includes('otel-bandwidth'))).toEqual([]);
    expect(stopped.stats).toEqual({ requests: 0, aborted: 0, internalErrors: 0 });
  });
});
