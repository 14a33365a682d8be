'use strict';
// Reference points, not products: what the cheapest ways of seeing every request through Node's
// public APIs cost before any measuring is done, for reading the preload's figures against.
//
// BENCH_REFERENCE_HOOK=finish: a `finish` listener on every response, timing the request with
//   process.hrtime() (what a middleware or a prom-client setup does, without its metric update);
// BENCH_REFERENCE_HOOK=channels: subscribers to Node's `http.server.request.start` and
//   `http.server.response.finish` diagnostics channels that do nothing (Node builds the two
//   messages a request once a channel has a subscriber);
// BENCH_REFERENCE_HOOK=wrappers: the four wrappers the preload installs on ServerResponse.prototype
//   (write, end, assignSocket, detachSocket), each only calling Node's own: what seeing every
//   request and every body write that way costs before anything is measured;
// BENCH_REFERENCE_HOOK=detach: nothing hooked; one ArrayBuffer detached at startup, as a
//   postMessage that transfers it does. The first detached buffer of an isolate invalidates V8's
//   ArrayBufferDetaching protector, after which every typed-array access the thread compiles,
//   Node's own included, checks for a detached buffer: what the preload cost every app from its
//   first collection on while it transferred its collections to the export worker.
const hook = process.env.BENCH_REFERENCE_HOOK;
let requests = 0;
let totalMs = 0;

if (hook === 'finish') {
  const http = require('node:http');
  const emit = http.Server.prototype.emit;
  http.Server.prototype.emit = function (event, req, res) {
    if (event === 'request') {
      const start = process.hrtime();
      res.once('finish', () => {
        const d = process.hrtime(start);
        requests++;
        totalMs += d[0] * 1e3 + d[1] / 1e6;
      });
    }
    return emit.apply(this, arguments);
  };
} else if (hook === 'channels') {
  const dc = require('node:diagnostics_channel');
  dc.subscribe('http.server.request.start', () => {});
  dc.subscribe('http.server.response.finish', () => {
    requests++;
  });
} else if (hook === 'wrappers') {
  const proto = require('node:http').ServerResponse.prototype;
  const { write, end, assignSocket, detachSocket } = proto;
  proto.write = function (chunk, encoding, callback) {
    return write.call(this, chunk, encoding, callback);
  };
  proto.end = function (chunk, encoding, callback) {
    return end.call(this, chunk, encoding, callback);
  };
  proto.assignSocket = function (socket) {
    assignSocket.call(this, socket);
    requests++;
  };
  proto.detachSocket = function (socket) {
    detachSocket.call(this, socket);
  };
} else if (hook === 'detach') {
  const { MessageChannel } = require('node:worker_threads');
  const { port1, port2 } = new MessageChannel();
  const buffer = new ArrayBuffer(8);
  port1.postMessage(buffer, [buffer]);
  if (buffer.byteLength !== 0) throw new Error('the buffer was not detached');
  port1.close();
  port2.close();
} else {
  throw new Error(`BENCH_REFERENCE_HOOK must be finish, channels, wrappers or detach, not ${hook}`);
}

process.once('SIGTERM', () => {
  process.stderr.write(`reference-hook ${JSON.stringify({ hook, requests, totalMs: Math.round(totalMs) })}\n`);
  process.exit(0);
});
