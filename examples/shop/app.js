// @ts-check
// A small shop API to instrument. Nothing in it knows about otel-bandwidth:
//   node --require @otel-bandwidth/instrumentation/register app.js
'use strict';
const express = require('express');

const products = Array.from({ length: 40 }, (_, i) => ({
  id: i + 1,
  name: `Product ${i + 1}`,
  price: Math.round((5 + i * 1.5) * 100) / 100,
  description: 'A fine product. '.repeat(3),
}));

const app = express();
app.use(express.json({ limit: '1mb' }));

const api = express.Router();
api.get('/products', (_req, res) => {
  res.json(products);
});
api.get('/products/:id', (req, res) => {
  const product = products.find((p) => p.id === Number(req.params.id));
  if (!product) {
    res.status(404).json({ error: 'no such product' });
    return;
  }
  res.json(product);
});
api.post('/orders', (req, res) => {
  const items = Array.isArray(req.body?.items) ? req.body.items : [];
  res.status(201).json({ orderId: Math.floor(Math.random() * 1e9), items: items.length });
});
// A report streamed in chunks, without Content-Length.
api.get('/reports/daily', (_req, res) => {
  res.setHeader('content-type', 'text/csv');
  let rows = 0;
  const writeSome = () => {
    for (let i = 0; i < 50; i++) res.write(`${rows++},${'x'.repeat(30)}\n`);
    if (rows >= 500) res.end('done\n');
    else setImmediate(writeSome);
  };
  writeSome();
});
api.get('/fail', () => {
  throw new Error('something broke');
});
app.use('/api', api);

app.use(/** @type {import('express').ErrorRequestHandler} */ (err, _req, res, _next) => {
  res.status(500).json({ error: err instanceof Error ? err.message : 'error' });
});

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
const server = app.listen(port, host, () => {
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`shop listening on http://${host}:${actual}\n`);
  if (process.send) process.send({ listening: actual });
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
