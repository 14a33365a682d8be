'use strict';
// The server under test: plain node:http, two handlers, nothing else loaded. The variants differ
// only by what `--require` puts in front of it (nothing, the otel-bandwidth preload, or the
// benchmark's own OpenTelemetry preloads). CommonJS on purpose: require('node:http') is what
// @opentelemetry/instrumentation-http hooks.
//
//   GET /json    a 1 KiB JSON body, Content-Length set by res.end
//   GET /stream  64 KiB written as 16 chunks of 4 KiB, no Content-Length (chunked), honouring
//                back-pressure
//   GET /routes/<anything>  the JSON body again: the runner spreads its requests over many paths
//
// Prints "listening <port>" on stdout once it accepts connections (PORT=0 picks a free port).
const http = require('node:http');

function jsonBody(size) {
  const base = { id: 12345, name: 'bench', tags: ['a', 'b', 'c'], ok: true, pad: '' };
  const empty = Buffer.byteLength(JSON.stringify(base));
  base.pad = 'x'.repeat(size - empty);
  const text = JSON.stringify(base);
  if (Buffer.byteLength(text) !== size) throw new Error(`json body is ${Buffer.byteLength(text)} bytes, not ${size}`);
  return text;
}

const JSON_BODY = jsonBody(1024);
const CHUNK = Buffer.alloc(4096, 'y');
const CHUNKS = 16;

function handleJson(req, res) {
  res.setHeader('content-type', 'application/json');
  res.end(JSON_BODY);
}

function handleStream(req, res) {
  res.setHeader('content-type', 'application/octet-stream');
  let written = 0;
  const writeMore = () => {
    while (written < CHUNKS) {
      written++;
      if (!res.write(CHUNK)) {
        res.once('drain', writeMore);
        return;
      }
    }
    res.end();
  };
  writeMore();
}

const server = http.createServer((req, res) => {
  if (req.url === '/json') return handleJson(req, res);
  if (req.url === '/stream') return handleStream(req, res);
  if (req.url.startsWith('/routes/')) return handleJson(req, res);
  res.statusCode = 404;
  res.end();
});

server.listen(Number(process.env.PORT ?? 0), process.env.HOST ?? '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
