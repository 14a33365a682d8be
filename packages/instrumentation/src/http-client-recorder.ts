/**
 * Outbound calls: the bandwidth a service spends on the APIs it calls, measured the same way as
 * its server side. node:http/https clients through `http.client.request.start`,
 * `http.client.response.finish` and `http.client.request.error`; fetch (undici) through its
 * `undici:*` channels. Body bytes are counted as written and as received (compressed bytes when
 * compressed); wire bytes from the connection's own counters, per exchange.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { chunkBytes } from './chunk-bytes';
import { monotonicMs } from './monotonic-clock';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_METHOD,
  ATTR_HTTP_STATUS,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_SCHEME,
  ATTR_URL_TEMPLATE,
  KNOWN_HTTP_METHODS,
  ROUTE_OVERFLOW,
  type Attributes,
} from '@otel-bandwidth/core';
import { RECEIVED_BYTES, countParserBodies } from './received-bytes';
import { normalisePath } from './route-normaliser';
import { SeriesTable, type SeriesFolder } from './series-table';

const kStart = Symbol('otel-bandwidth.client.start');
const kSent = Symbol('otel-bandwidth.client.sent');

const kStatus = Symbol('otel-bandwidth.client.status');
const kSocket = Symbol('otel-bandwidth.client.socket');
const kSocketState = Symbol('otel-bandwidth.client.socketState');
const kDone = Symbol('otel-bandwidth.client.done');

interface Counted {
  [kDone]?: boolean;
  [kStart]?: number;
  [kSent]?: number;
  [RECEIVED_BYTES]?: number;
  [kStatus]?: number;
  [kSocket]?: TrackedSocket;
}
interface TrackedSocket extends Socket {
  [kSocketState]?: { read: number; written: number };
  _bytesDispatched?: number;
}
type TrackedClientRequest = ClientRequest & Counted & { _hasBody?: boolean };
type TrackedResponse = IncomingMessage & Counted;

/** The request as undici hands it to its diagnostics channels (the parts read here). */
interface UndiciRequest extends Counted {
  method: string;
  origin: string;
  path: string;
  onData?: (chunk: Buffer) => boolean;
  onBodySent?: (chunk: Buffer | string) => void;
}

const METHODS = new Map<string, string>(KNOWN_HTTP_METHODS.map((m) => [m, m]));

export const foldClientSeries: SeriesFolder = (a) => ({
  key: `${String(a[ATTR_HTTP_METHOD])} ${String(a[ATTR_HTTP_STATUS] ?? 0)} ${String(a[ATTR_ERROR_TYPE] ?? '')} (overflow)`,
  attributes: {
    [ATTR_HTTP_METHOD]: a[ATTR_HTTP_METHOD] ?? '_OTHER',
    ...(a[ATTR_HTTP_STATUS] !== undefined ? { [ATTR_HTTP_STATUS]: a[ATTR_HTTP_STATUS] } : {}),
    ...(a[ATTR_ERROR_TYPE] !== undefined ? { [ATTR_ERROR_TYPE]: a[ATTR_ERROR_TYPE] } : {}),
    [ATTR_SERVER_ADDRESS]: ROUTE_OVERFLOW,
    [ATTR_URL_TEMPLATE]: ROUTE_OVERFLOW,
  },
});

export function createClientSeriesTable(limit: number): SeriesTable {
  return new SeriesTable(limit, foldClientSeries);
}

function socketCounters(socket: TrackedSocket | undefined | null): { requestWire: number; responseWire: number } {
  if (!socket) return { requestWire: 0, responseWire: 0 };
  let state = socket[kSocketState];
  if (state === undefined) {
    state = { read: 0, written: 0 };
    socket[kSocketState] = state;
  }
  const read = socket.bytesRead;
  const written = typeof socket._bytesDispatched === 'number' ? socket._bytesDispatched : (socket.bytesWritten ?? 0);
  const out = { requestWire: written - state.written, responseWire: read - state.read };
  state.read = read;
  state.written = written;
  return out;
}

let table: SeriesTable | undefined;
let patched = false;
let undiciPatched = false;
export const clientStats = { requests: 0, internalErrors: 0 };

function record(
  method: string,
  scheme: string,
  address: string,
  port: number,
  path: string,
  status: number,
  errorType: string | undefined,
  start: number,
  sent: number,
  received: number,
  socket: TrackedSocket | undefined | null,
): void {
  const t = table;
  if (t === undefined) return;
  const template = normalisePath(path);
  const key = `${method} ${status} ${scheme}://${address}:${port}${template} ${errorType ?? ''}`;
  let series = t.get(key, 0);
  if (series === undefined) {
    const attributes: Attributes = {
      [ATTR_HTTP_METHOD]: method,
      [ATTR_URL_SCHEME]: scheme,
      [ATTR_SERVER_ADDRESS]: address,
      [ATTR_SERVER_PORT]: port,
      [ATTR_URL_TEMPLATE]: template,
    };
    if (status > 0) attributes[ATTR_HTTP_STATUS] = status;
    if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
    series = t.add(key, 0, attributes);
  }
  const wire = socketCounters(socket);
  series.record(monotonicMs() - start, sent, received, wire.requestWire, wire.responseWire);
  clientStats.requests++;
}

// ---- node:http / node:https clients

function hostAndPort(req: ClientRequest): { address: string; port: number; scheme: string } {
  const scheme = req.protocol === 'https:' ? 'https' : 'http';
  const hostHeader = req.getHeader('host');
  const host = typeof hostHeader === 'string' ? hostHeader : req.host;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
  return { address: m?.[1] ?? host, port: m?.[2] ? Number(m[2]) : scheme === 'https' ? 443 : 80, scheme };
}

/**
 * Node publishes http.client.request.start only when the request is ended, after any body
 * writes; a request is therefore tracked from its first write, or from then.
 */
function track(req: TrackedClientRequest): void {
  if (table === undefined || req[kStart] !== undefined) return;
  req[kStart] = monotonicMs();
  req[kSent] = 0;
}

function finishNodeRequest(req: TrackedClientRequest, res: TrackedResponse | undefined, errorType: string | undefined): void {
  const start = req[kStart];
  if (start === undefined || req[kDone] === true) return;
  req[kDone] = true;
  try {
    const { address, port, scheme } = hostAndPort(req);
    const method = METHODS.get(req.method) ?? '_OTHER';
    record(method, scheme, address, port, req.path, res?.statusCode ?? 0, errorType, start, req[kSent] ?? 0, res?.[RECEIVED_BYTES] ?? 0, req.socket as TrackedSocket | null);
  } catch {
    clientStats.internalErrors++;
  }
}

function onNodeRequestStart(message: unknown): void {
  if (table === undefined) return;
  track((message as { request: TrackedClientRequest }).request);
}

function onNodeResponse(message: unknown): void {
  const { request, response } = message as { request: TrackedClientRequest; response: TrackedResponse };
  // published at the response's head, before its body is parsed; a subscriber's exception
  // would reach the app
  try {
    countParserBodies((response.socket as (Socket & { parser?: unknown }) | null)?.parser);
  } catch {
    clientStats.internalErrors++;
  }
  if (request[kStart] === undefined) return;
  const done = (): void => finishNodeRequest(request, response, response.complete ? undefined : 'aborted');
  response.once('end', done);
  response.once('close', done);
}

function onNodeRequestError(message: unknown): void {
  const { request, error } = message as { request: TrackedClientRequest; error: Error & { code?: string } };
  const res = (request as ClientRequest & { res?: TrackedResponse }).res;
  finishNodeRequest(request, res ?? undefined, error?.code ?? error?.name ?? 'error');
}

// ---- fetch (undici)

function patchUndici(proto: UndiciRequest): void {
  if (undiciPatched) return;
  undiciPatched = true;
  const onData = proto.onData;
  if (typeof onData === 'function') {
    proto.onData = function (this: UndiciRequest, chunk: Buffer): boolean {
      const n = this[RECEIVED_BYTES];
      if (n !== undefined) this[RECEIVED_BYTES] = n + chunk.length;
      return onData.call(this, chunk);
    };
  }
  const onBodySent = proto.onBodySent;
  if (typeof onBodySent === 'function') {
    proto.onBodySent = function (this: UndiciRequest, chunk: Buffer | string): void {
      const n = this[kSent];
      if (n !== undefined) this[kSent] = n + chunkBytes(chunk, undefined);
      return onBodySent.call(this, chunk);
    };
  }
}

function onUndiciCreate(message: unknown): void {
  if (table === undefined) return;
  const { request } = message as { request: UndiciRequest };
  patchUndici(Object.getPrototypeOf(request) as UndiciRequest);
  request[kStart] = monotonicMs();
  request[kSent] = 0;
  request[RECEIVED_BYTES] = 0;
}

function onUndiciSendHeaders(message: unknown): void {
  const { request, socket } = message as { request: UndiciRequest; socket: TrackedSocket };
  if (request[kStart] !== undefined) request[kSocket] = socket;
}

function onUndiciHeaders(message: unknown): void {
  const { request, response } = message as { request: UndiciRequest; response: { statusCode: number } };
  if (request[kStart] !== undefined) request[kStatus] = response.statusCode;
}

function finishUndici(request: UndiciRequest, errorType: string | undefined): void {
  const start = request[kStart];
  if (start === undefined || request[kDone] === true) return;
  request[kDone] = true;
  try {
    const origin = new URL(request.origin);
    const scheme = origin.protocol === 'https:' ? 'https' : 'http';
    const port = origin.port ? Number(origin.port) : scheme === 'https' ? 443 : 80;
    const method = METHODS.get(request.method) ?? '_OTHER';
    record(method, scheme, origin.hostname, port, request.path, request[kStatus] ?? 0, errorType, start, request[kSent] ?? 0, request[RECEIVED_BYTES] ?? 0, request[kSocket]);
  } catch {
    clientStats.internalErrors++;
  }
}

function onUndiciTrailers(message: unknown): void {
  finishUndici((message as { request: UndiciRequest }).request, undefined);
}

function onUndiciError(message: unknown): void {
  const { request, error } = message as { request: UndiciRequest; error: Error & { code?: string } };
  finishUndici(request, error?.code ?? error?.name ?? 'error');
}

function installPatches(): void {
  if (patched) return;
  patched = true;
  const proto = ClientRequest.prototype as TrackedClientRequest;
  const write = proto.write;
  const end = proto.end;
  proto.write = function (this: TrackedClientRequest, ...args: unknown[]): boolean {
    track(this);
    const n = this[kSent];
    const writable = !this.destroyed && !this.writableEnded;
    const result = Reflect.apply(write, this, args) as boolean;
    if (n !== undefined && writable) this[kSent] = n + chunkBytes(args[0], args[1]);
    return result;
  } as typeof proto.write;
  proto.end = function (this: TrackedClientRequest, ...args: unknown[]): TrackedClientRequest {
    track(this);
    const n = this[kSent];
    const writable = !this.destroyed && !this.writableEnded;
    const result = Reflect.apply(end, this, args) as TrackedClientRequest;
    // the end() call itself may have added to kSent: add to what is there now
    if (n !== undefined && writable && typeof args[0] !== 'function') this[kSent] = (this[kSent] ?? 0) + chunkBytes(args[0], args[1]);
    return result;
  } as typeof proto.end;
  diagnosticsChannel.subscribe('http.client.request.start', onNodeRequestStart);
  diagnosticsChannel.subscribe('http.client.response.finish', onNodeResponse);
  diagnosticsChannel.subscribe('http.client.request.error', onNodeRequestError);
  diagnosticsChannel.subscribe('undici:request:create', onUndiciCreate);
  diagnosticsChannel.subscribe('undici:client:sendHeaders', onUndiciSendHeaders);
  diagnosticsChannel.subscribe('undici:request:headers', onUndiciHeaders);
  diagnosticsChannel.subscribe('undici:request:trailers', onUndiciTrailers);
  diagnosticsChannel.subscribe('undici:request:error', onUndiciError);
}

/** Starts recording outbound calls into `target` (one target per process). */
export function startHttpClientRecorder(target: SeriesTable): { stop(): void } {
  installPatches();
  table = target;
  return {
    stop: () => {
      if (table === target) table = undefined;
    },
  };
}
