/**
 * The request path: the hottest code in the product. It adds a request's numbers to its series'
 * record and does nothing else: no I/O, no timers, and past the first request of a series no
 * allocation but the start time's boxed number (Node's own diagnostics_channel messages are some
 * 100 bytes more a request). Collection happens elsewhere (BandwidthMetricProducer).
 *
 * How it sees requests without wrapping the app:
 *   - node:diagnostics_channel `http.server.request.start` / `http.server.response.finish`
 *     (published by Node's HTTP server for every request) give start and end;
 *   - body bytes out are counted as they are written, by a wrapper on
 *     ServerResponse.prototype.write/end installed once: chunked, streamed and compressed bodies
 *     count what was actually written, HEAD/204/304 count 0, and writes after the client left
 *     count nothing;
 *   - body bytes in are counted as Node's parser hands them to the request, by a wrapper on
 *     IncomingMessage.prototype.push: no `data` listener, the app reads its request exactly as
 *     before;
 *   - bytes on the wire (headers, chunk framing, 100-continue included) are the socket's own
 *     counters, read at each response's end: per connection, each response takes what the socket
 *     read and wrote since the previous one, so the totals are exact on keep-alive connections;
 *   - a response the client abandoned is recorded when its connection closes, as an error
 *     (error.type "aborted"), with the bytes that were written: one `close` listener per
 *     connection, not per request (a pipelined request queued behind it is not seen).
 *
 * Measured with a CPU profile under load: every per-request step here shows up, so none is
 * added lightly (no key strings built per request, no arrays spliced, no closures).
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { monotonicMs } from './monotonic-clock';
import { KNOWN_HTTP_METHODS } from '@otel-bandwidth/core';
import { installFrameworkRouteHooks } from './framework-routes';
import { RECEIVED_BYTES, countReceivedBytes, type CountedMessage } from './received-bytes';
import { CONTEXT_ROUTE, routeOf } from './route-template';
import { seriesAttributes, type SeriesTable } from './series-table';
import type { UserUsageTable } from './user-usage';

const kStart = Symbol('otel-bandwidth.start');
const kResponseBytes = Symbol('otel-bandwidth.responseBytes');
const kSocketState = Symbol('otel-bandwidth.socket');

interface TrackedResponse extends ServerResponse {
  [kStart]?: number;
  [kResponseBytes]?: number;
  _hasBody?: boolean;
  /** null until the head is built; a string after */
  _header?: string | null;
  /** set by end(chunk) before the head is built: the chunk's byte length */
  _contentLength?: number | null;
  finished: boolean;
  req: TrackedRequest;
}
type TrackedRequest = CountedMessage & { [CONTEXT_ROUTE]?: string };
/** The native stream under a socket: where net.Socket's bytesRead and bytesWritten come from. */
interface SocketHandle {
  readonly bytesRead?: number;
  readonly bytesWritten?: number;
}
/** Per connection: the socket counters already attributed to responses. */
interface SocketState {
  read: number;
  written: number;
  /**
   * The connection's native handle, taken once. net.Socket reaches it through a `_handle`
   * getter whose own property lookup is megamorphic in every Node.js process (all kinds of
   * sockets pass through it): reading the counters through that getter cost more than the
   * rest of the request's bookkeeping together (CPU profile, callgrind).
   */
  handle: SocketHandle | null;
}
interface TrackedSocket extends Socket {
  [kSocketState]?: SocketState;
  _bytesDispatched?: number;
  _handle?: SocketHandle | null;
  _httpMessage?: TrackedResponse | null;
  encrypted?: boolean;
}
interface ServerMessage {
  request: TrackedRequest;
  response: TrackedResponse;
  socket: TrackedSocket;
}

export type UserIdResolver = (req: IncomingMessage, res: ServerResponse) => string | undefined | null;
/** The route something else knows for the request being handled in the current async context. */
export type ContextRouteResolver = () => string | undefined;

export interface RecorderStats {
  /** requests recorded */
  requests: number;
  /** of which the client left before the response ended */
  aborted: number;
  /** exceptions caught inside the instrumentation (the request went unrecorded) */
  internalErrors: number;
}

const METHODS = new Map<string, string>(KNOWN_HTTP_METHODS.map((m) => [m, m]));
/** method -> its index (1-based; 0 is _OTHER), for the series code */
const METHOD_INDEX = new Map<string, number>(KNOWN_HTTP_METHODS.map((m, i) => [m, i + 1]));
/** 1.1 -> 0, 1.0 -> 1, 2.0 -> 2, else 3: from the parser's numbers, so no string is hashed per request */
function versionIndex(major: number, minor: number): number {
  if (major === 1) return minor === 1 ? 0 : minor === 0 ? 1 : 3;
  return major === 2 && minor === 0 ? 2 : 3;
}

function chunkBytes(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/** Bytes the socket has handed to the OS (after it closes, what it had). */
function socketWritten(socket: TrackedSocket): number {
  const dispatched = socket._bytesDispatched;
  return typeof dispatched === 'number' ? dispatched : (socket.bytesWritten ?? 0);
}

function nativeHandle(socket: TrackedSocket): SocketHandle | null {
  const handle = socket._handle;
  return handle !== undefined && handle !== null && typeof handle.bytesRead === 'number' && typeof handle.bytesWritten === 'number' ? handle : null;
}

interface ActiveRecorder {
  table: SeriesTable;
  routeFromContext: ContextRouteResolver | undefined;
  users: UserUsageTable | undefined;
  userId: UserIdResolver | undefined;
  stats: RecorderStats;
}

let active: ActiveRecorder | undefined;
let patched = false;

function onRequestStart(message: unknown): void {
  if (active === undefined) return;
  const m = message as ServerMessage;
  const response = m.response;
  response[kStart] = monotonicMs();
  response[kResponseBytes] = 0;
  m.request[RECEIVED_BYTES] = 0;
  const socket = m.socket;
  if (socket[kSocketState] === undefined) {
    socket[kSocketState] = { read: 0, written: 0, handle: nativeHandle(socket) };
    socket.once('close', onSocketClose);
  }
}

function onResponseFinish(message: unknown): void {
  const m = message as ServerMessage;
  const state = m.socket[kSocketState];
  if (state !== undefined) record(m.request, m.response, m.socket, state, false);
}

/** A response still attached to its connection when the connection closes was abandoned. */
function onSocketClose(this: TrackedSocket): void {
  const state = this[kSocketState];
  const response = this._httpMessage;
  if (state !== undefined && response !== undefined && response !== null && response.req !== undefined) {
    record(response.req, response, this, state, true);
  }
}

function record(request: TrackedRequest, response: TrackedResponse, socket: TrackedSocket, state: SocketState, aborted: boolean): void {
  const rec = active;
  if (rec === undefined) return;
  try {
    const start = response[kStart];
    if (start === undefined) return;
    // recorded once: clearing a field the response already has adds no property per request
    response[kStart] = undefined;
    const durationMs = monotonicMs() - start;
    const status = aborted && !response.headersSent ? 0 : response.statusCode;
    const requestMethod = request.method ?? '';
    const route = routeOf(request, status);
    const encrypted = socket.encrypted === true;
    // everything but the route, as one small integer: status, method, version, scheme, aborted
    const code =
      status * 1024 +
      (METHOD_INDEX.get(requestMethod) ?? 0) * 32 +
      versionIndex(request.httpVersionMajor, request.httpVersionMinor) * 4 +
      (encrypted ? 2 : 0) +
      (aborted ? 1 : 0);
    const series =
      rec.table.get(route, code) ??
      rec.table.add(
        route,
        code,
        seriesAttributes({
          method: METHODS.get(requestMethod) ?? '_OTHER',
          route,
          status,
          scheme: encrypted ? 'https' : 'http',
          protocolVersion: request.httpVersion,
          errorType: aborted ? 'aborted' : status >= 500 ? String(status) : undefined,
        }),
      );
    let requestBytes = request[RECEIVED_BYTES] ?? 0;
    if (!request.complete && !aborted) {
      // The app answered before reading the whole body; Node discards the rest unread.
      const declared = Number(request.headers['content-length']);
      if (declared > requestBytes) requestBytes = declared;
    }
    const responseBytes = response[kResponseBytes] ?? 0;
    // a live connection's handle directly; a closed one's counters as net.Socket kept them
    const handle = state.handle;
    const live = handle !== null && !socket.destroyed;
    const read = live ? (handle.bytesRead as number) : socket.bytesRead;
    const written = live ? (handle.bytesWritten as number) : socketWritten(socket);
    const requestWire = read - state.read;
    const responseWire = written - state.written;
    state.read = read;
    state.written = written;
    series.record(durationMs, requestBytes, responseBytes, requestWire, responseWire);
    rec.stats.requests++;
    if (aborted) rec.stats.aborted++;
    if (rec.userId !== undefined && rec.users !== undefined) {
      const user = rec.userId(request, response);
      if (user !== undefined && user !== null && user !== '') rec.users.add(String(user), requestBytes, responseBytes);
    }
  } catch {
    rec.stats.internalErrors++;
  }
}

function rememberContextRoute(response: TrackedResponse, resolve: ContextRouteResolver): void {
  try {
    const route = resolve();
    if (route !== undefined && response.req !== undefined) response.req[CONTEXT_ROUTE] = route;
  } catch {
    if (active !== undefined) active.stats.internalErrors++;
  }
}

function installPatches(): void {
  if (patched) return;
  patched = true;
  const proto = ServerResponse.prototype as TrackedResponse;
  const originalWrite = proto.write;
  const originalEnd = proto.end;
  // `finished` and `destroyed` are plain fields (writableEnded is a getter over finished)
  proto.write = function write(this: TrackedResponse, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const counted = this[kResponseBytes];
    const writable = !this.destroyed && !this.finished;
    const result = originalWrite.call(this, chunk as string, encoding as BufferEncoding, callback as () => void);
    if (counted !== undefined && writable && this._hasBody !== false) {
      // measured here rather than through chunkBytes: with its own feedback the Buffer case is an
      // inlined field load, not a generic property lookup (callgrind: -165 instructions a write)
      this[kResponseBytes] =
        counted +
        (typeof chunk === 'string'
          ? Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8')
          : chunk instanceof Uint8Array
            ? chunk.length
            : 0);
    }
    return result;
  } as typeof proto.write;
  proto.end = function end(this: TrackedResponse, chunk?: unknown, encoding?: unknown, callback?: unknown): TrackedResponse {
    const counted = this[kResponseBytes];
    const writable = !this.destroyed && !this.finished;
    const headless = this._header === null;
    // end() runs in the app's async context for the request: where OpenTelemetry's instrumentations
    // keep the route they matched
    const fromContext = active?.routeFromContext;
    if (fromContext !== undefined && counted !== undefined && !this.finished) rememberContextRoute(this, fromContext);
    const result = originalEnd.call(this, chunk as string, encoding as BufferEncoding, callback as () => void) as TrackedResponse;
    if (counted !== undefined && writable && chunk !== undefined && this._hasBody !== false && typeof chunk !== 'function') {
      // end(body) on a response whose head is not built yet: Node has just measured the body
      // for its Content-Length (_contentLength); a string is not measured twice
      const length = this._contentLength;
      this[kResponseBytes] = counted + (headless && typeof chunk === 'string' && typeof length === 'number' ? length : chunkBytes(chunk, encoding));
    }
    return result;
  } as typeof proto.end;
  countReceivedBytes();

  installFrameworkRouteHooks();
  diagnosticsChannel.subscribe('http.server.request.start', onRequestStart);
  diagnosticsChannel.subscribe('http.server.response.finish', onResponseFinish);
}

/**
 * Starts recording server requests into `table`. One recorder is active per process: a second
 * call replaces the first's target.
 */
export function startHttpServerRecorder(
  table: SeriesTable,
  options: { users?: UserUsageTable; userId?: UserIdResolver; routeFromContext?: ContextRouteResolver } = {},
): { stats: RecorderStats; stop(): void } {
  installPatches();
  const recorder: ActiveRecorder = {
    table,
    routeFromContext: options.routeFromContext,
    users: options.users,
    userId: options.userId,
    stats: { requests: 0, aborted: 0, internalErrors: 0 },
  };
  active = recorder;
  return {
    stats: recorder.stats,
    stop: () => {
      if (active === recorder) active = undefined;
    },
  };
}
