// @ts-check
// A plain node:http service; run with: node --require ./telemetry.js app.js
'use strict';
const http = require('node:http');

const server = http.createServer((req, res) => {
  const match = /^\/orders\/(\d+)$/.exec(req.url ?? '');
  if (match) {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ id: Number(match[1]), status: 'shipped' }));
    return;
  }
  res.statusCode = 404;
  res.end();
});
server.listen(Number(process.env.PORT ?? 3001), '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`orders listening on http://127.0.0.1:${port}\n`);
  if (process.send) process.send({ listening: port });
});
