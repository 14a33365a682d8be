/**
 * The request path: the hottest code in the product. It adds a request's numbers to its series'
 * record and does nothing else: no I/O, no timers; past the first request of a series and of a
 * connection it allocates only the clock's readings, and it adds a property to Node's objects
 * only for a request with a body (its byte count). Collection happens elsewhere
 * (BandwidthMetricProducer).
 *
 * How it sees requests without wrapping the app:
 *   - Node's HTTP server gives each response its connection (ServerResponse.prototype
 *     .assignSocket) and takes it back once the response has finished (detachSocket): wrappers
 *     on the two, installed once, give start and end. A connection carries one response at a
 *     time, so the response's numbers are kept in a per-connection record. (Node's
 *     diagnostics_channel `http.server.request.start` / `http.server.response.finish` say the
 *     same but build two message objects a request: `node bench/overhead/instructions.mjs`,
 *     some 770 instructions a request more.) A pipelined request queued behind another is
 *     timed from when its response gets the connection;
 *   - body bytes out are counted as they are written, by a wrapper on
 *     ServerResponse.prototype.write/end installed once: chunked, streamed and compressed bodies
 *     count what was actually written, HEAD/204/304 count 0, and writes after the client left
 *     count nothing;
 *   - body bytes in are counted as Node's parser hands them to the request, by a wrapper on the
 *     body callback of the connection's parser, set at its first response (received-bytes.ts):
 *     no `data` listener, the app reads its request exactly as before;
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
import { type IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { chunkBytes, stringBytes } from './chunk-bytes';
import { monotonicMs } from './monotonic-clock';
import { KNOWN_HTTP_METHODS } from '@otel-bandwidth/core';
import { installFrameworkRouteHooks } from './framework-routes';
import { RECEIVED_BYTES, countParserBodies, type CountedMessage } from './received-bytes';
import { type CONTEXT_ROUTE, routeOf, routedByUrl, setContextRoute } from './route-template';
import { seriesAttributes, type SeriesRecord, type SeriesTable } from './series-table';
import { UrlSeriesCache, type UrlSeriesEntry } from './url-series-cache';
import type { UserUsageTable } from './user-usage';

const kResponseBytes = Symbol('otel-bandwidth.responseBytes');
const kSocketState = Symbol('otel-bandwidth.socket');

interface TrackedResponse extends ServerResponse {
  /** body bytes written before the response had its connection (queued behind another) */
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
/**
 * Per connection: the response it carries now (a connection carries one at a time: Node gives a
 * response the socket, assignSocket, and takes it back when the response has finished,
 * detachSocket), and the socket counters already attributed to responses. Kept here rather than
 * on each response so that the request path adds no property to Node's objects.
 */
interface SocketState {
  /** when the response now on the connection started; -1 once it is recorded (or none is on it) */
  start: number;
  /** body bytes the response now on the connection has written */
  responseBytes: number;
  read: number;
  written: number;
  /**
   * The connection's native handle, taken once. net.Socket reaches it through a `_handle`
   * getter whose own property lookup is megamorphic in every Node.js process (all kinds of
   * sockets pass through it): reading the counters through that getter cost more than the
   * rest of the request's bookkeeping together (CPU profile, callgrind).
   */
  handle: SocketHandle | null;
  /**
   * The series of the connection's last request whose route was its URL's, as the URL cache's
   * entry: the next request to the same URL with the same code (status, method, protocol)
   * records into it without a route or series lookup, while the table's epoch has not changed (a
   * collection may free a series or find room for one it had folded). Keep-alive clients tend to
   * repeat a request, and then the lookups stay out of `record`'s compiled code, which V8 no
   * longer inlines them into: callgrind per function, `record` about 370 estimated cycles a JSON
   * request cheaper, mostly instruction-cache misses. An entry rather than its fields, so that a
   * request served by the URL cache stores one object the heap has long had, not the request's
   * new URL string (a store the garbage collector must remember).
   */
  last: UrlSeriesEntry | undefined;
}
interface TrackedSocket extends Socket {
  [kSocketState]?: SocketState;
  _bytesDispatched?: number;
  _handle?: SocketHandle | null;
  _httpMessage?: TrackedResponse | null;
  /** Node's HTTP parser for the connection */
  parser?: unknown;
  encrypted?: boolean;
}
interface AssignedResponse extends TrackedResponse {
  socket: TrackedSocket | null;
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
/**
 * The method index of the request before: Node's parser gives a method as one of its constant
 * strings, so a run of GETs costs a pointer comparison rather than a Map lookup each.
 */
let lastMethod = 'GET';
let lastMethodIndex = METHOD_INDEX.get('GET') ?? 0;
function methodIndex(method: string): number {
  if (method === lastMethod) return lastMethodIndex;
  const index = METHOD_INDEX.get(method) ?? 0;
  lastMethod = method;
  lastMethodIndex = index;
  return index;
}
/** 1.1 -> 0, 1.0 -> 1, 2.0 -> 2, else 3: from the parser's numbers, so no string is hashed per request */
function versionIndex(major: number, minor: number): number {
  if (major === 1) return minor === 1 ? 0 : minor === 0 ? 1 : 3;
  return major === 2 && minor === 0 ? 2 : 3;
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
  /** series by URL, for requests routed by their URL that the connection's last series does not serve */
  urlSeries: UrlSeriesCache;
  routeFromContext: ContextRouteResolver | undefined;
  users: UserUsageTable | undefined;
  userId: UserIdResolver | undefined;
  stats: RecorderStats;
}

let active: ActiveRecorder | undefined;
/** the active recorder's routeFromContext, kept apart for end(), which every response calls */
let routeFromContext: ContextRouteResolver | undefined;
let patched = false;

/**
 * A response takes its connection: the request's start, for the request path. Code other than
 * Node's server may call assignSocket too (test harnesses that fake a request, with a socket of
 * their own making): whatever it passes, nothing here throws into it.
 */
function onResponseStart(response: TrackedResponse, socket: TrackedSocket): void {
  try {
    let state = socket[kSocketState];
    if (state === undefined) {
      if (typeof socket.once !== 'function') return;
      state = { start: -1, responseBytes: 0, read: 0, written: 0, handle: nativeHandle(socket), last: undefined };
      socket[kSocketState] = state;
      socket.once('close', onSocketClose);
      // the connection's parser counts the body bytes of its requests from now on
      countParserBodies(socket.parser);
    }
    state.start = monotonicMs();
    const early = response[kResponseBytes];
    state.responseBytes = early === undefined ? 0 : early;
  } catch {
    if (active !== undefined) active.stats.internalErrors++;
  }
}

/**
 * Body bytes a response wrote: to its connection's state while it has one, else on itself.
 *
 * What is rarely run (a string's byte length, bytes written before the response has its
 * connection) is kept in functions of its own, out of the write wrapper and this. V8 inlines
 * these into the app's own function at each res.write call site, out of a per-function budget
 * of bytecode that it counts twice for a wrapper it has also compiled on its own; what they
 * spend of it is taken from Node's functions around the call (in the streamed benchmark
 * handler, EventEmitter's _addListener then stayed out).
 */
function addResponseBytes(response: AssignedResponse, n: number): void {
  const socket = response.socket;
  const state = socket === null ? undefined : socket[kSocketState];
  if (state !== undefined && state.start >= 0) state.responseBytes += n;
  else addEarlyResponseBytes(response, n);
}

function addEarlyResponseBytes(response: TrackedResponse, n: number): void {
  // the wrappers stay installed once a recorder stops (instrumentation.disable(), or the export
  // worker failed): then they leave Node's objects as they are
  if (active === undefined) return;
  response[kResponseBytes] = (response[kResponseBytes] ?? 0) + n;
}

/** A response still attached to its connection when the connection closes was abandoned. */
function onSocketClose(this: TrackedSocket): void {
  const state = this[kSocketState];
  const response = this._httpMessage;
  if (state !== undefined && response !== undefined && response !== null && response.req !== undefined) {
    record(response.req, response, this, state, true);
  }
}

/** The series of a request the connection's last one does not tell (see SocketState.last). */
function seriesOf(
  recorder: ActiveRecorder,
  request: TrackedRequest,
  state: SocketState,
  status: number,
  code: number,
  requestMethod: string,
  encrypted: boolean,
  aborted: boolean,
): SeriesRecord {
  const table = recorder.table;
  const url = request.url;
  const byUrl = typeof url === 'string' && routedByUrl(request);
  const known = byUrl ? recorder.urlSeries.find(url, code, table.epoch) : undefined;
  if (known !== undefined) {
    state.last = known;
    return known.series;
  }
  const route = routeOf(request, status);
  const series =
    table.get(route, code) ??
    table.add(
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
  if (byUrl) state.last = recorder.urlSeries.remember(url as string, code, table.epoch, series);
  return series;
}

function record(request: TrackedRequest, response: TrackedResponse, socket: TrackedSocket, state: SocketState, aborted: boolean): void {
  // recorded once, and the connection's next response starts afresh, recorder or not
  const start = state.start;
  if (start < 0) return;
  state.start = -1;
  const rec = active;
  if (rec === undefined) return;
  try {
    const durationMs = monotonicMs() - start;
    const status = aborted && !response.headersSent ? 0 : response.statusCode;
    const requestMethod = request.method ?? '';
    const encrypted = socket.encrypted === true;
    // everything but the route, as one small integer: status, method, version, scheme, aborted
    // (in int32 bit operations, which compile to no overflow checks: a status Node has sent is 100-999)
    const code =
      (status << 10) |
      (methodIndex(requestMethod) << 5) |
      (versionIndex(request.httpVersionMajor, request.httpVersionMinor) << 2) |
      (encrypted ? 2 : 0) |
      (aborted ? 1 : 0);
    const table = rec.table;
    const last = state.last;
    const series =
      last !== undefined && code === last.code && request.url === last.url && table.epoch === last.epoch && routedByUrl(request)
        ? last.series
        : seriesOf(rec, request, state, status, code, requestMethod, encrypted, aborted);
    let requestBytes = request[RECEIVED_BYTES] ?? 0;
    if (!request.complete && !aborted) {
      // The app answered before reading the whole body; Node discards the rest unread.
      const declared = Number(request.headers['content-length']);
      if (declared > requestBytes) requestBytes = declared;
    }
    const responseBytes = state.responseBytes;
    // a live connection's counters from its handle; a closed one's as net.Socket kept them. A
    // finished response has written at least its head, so a handle that shows nothing new was
    // closed under it (a closed handle reads 0)
    const handle = state.handle;
    let read = 0;
    let written = 0;
    if (handle !== null && !aborted) {
      read = handle.bytesRead as number;
      written = handle.bytesWritten as number;
    }
    if (written <= state.written) {
      read = socket.bytesRead;
      written = socketWritten(socket);
    }
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
    if (route !== undefined && response.req !== undefined) setContextRoute(response.req, route);
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
  // `finished` and `destroyed` are plain fields (writableEnded is a getter over finished), booleans
  // from Node's constructor on: compared with true, each is one pointer comparison, where `!` tests
  // for every kind of falsy value
  proto.write = function write(this: AssignedResponse, chunk: unknown, encoding?: unknown, callback?: unknown): boolean {
    const writable = this.destroyed !== true && this.finished !== true;
    const result = originalWrite.call(this, chunk as string, encoding as BufferEncoding, callback as () => void);
    if (writable && this._hasBody !== false) {
      // measured here rather than through chunkBytes: with its own feedback the Buffer case is an
      // inlined field load, not a generic property lookup (callgrind: -165 instructions a write).
      // Node's write() has returned, so it has checked the chunk: a string or a Uint8Array, anything
      // else throws ERR_INVALID_ARG_TYPE before a byte goes out. So no instanceof: its walk up a
      // Buffer's prototype chain was a third of this wrapper's own cost (callgrind per function,
      // the streamed benchmark handler: 544 instructions a request of 16 writes)
      addResponseBytes(this, typeof chunk === 'string' ? stringBytes(chunk, encoding) : (chunk as Uint8Array).length);
    }
    return result;
  } as typeof proto.write;
  proto.end = function end(this: AssignedResponse, chunk?: unknown, encoding?: unknown, callback?: unknown): TrackedResponse {
    const writable = this.destroyed !== true && this.finished !== true;
    const headless = this._header === null;
    // end() runs in the app's async context for the request: where OpenTelemetry's instrumentations
    // keep the route they matched
    const fromContext = routeFromContext;
    if (fromContext !== undefined && !this.finished) rememberContextRoute(this, fromContext);
    const result = originalEnd.call(this, chunk as string, encoding as BufferEncoding, callback as () => void) as TrackedResponse;
    if (writable && chunk !== undefined && this._hasBody !== false && typeof chunk !== 'function') {
      // end(body) on a response whose head is not built yet: Node has just measured the body
      // for its Content-Length (_contentLength); a string is not measured twice
      const length = this._contentLength;
      addResponseBytes(this, headless && typeof chunk === 'string' && typeof length === 'number' ? length : chunkBytes(chunk, encoding));
    }
    return result;
  } as typeof proto.end;
  const originalAssign = proto.assignSocket;
  const originalDetach = proto.detachSocket;
  // after Node's own: it refuses a connection that still carries another response
  proto.assignSocket = function assignSocket(this: TrackedResponse, socket: Socket): void {
    originalAssign.call(this, socket);
    if (active !== undefined) onResponseStart(this, socket as TrackedSocket);
  };
  proto.detachSocket = function detachSocket(this: TrackedResponse, socket: Socket): void {
    const state = socket === null || socket === undefined ? undefined : (socket as TrackedSocket)[kSocketState];
    if (state !== undefined) record(this.req, this, socket as TrackedSocket, state, false);
    originalDetach.call(this, socket);
  };
  installFrameworkRouteHooks();
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
    urlSeries: new UrlSeriesCache(),
    routeFromContext: options.routeFromContext,
    users: options.users,
    userId: options.userId,
    stats: { requests: 0, aborted: 0, internalErrors: 0 },
  };
  active = recorder;
  routeFromContext = recorder.routeFromContext;
  return {
    stats: recorder.stats,
    stop: () => {
      if (active === recorder) {
        active = undefined;
        routeFromContext = undefined;
      }
    },
  };
}
