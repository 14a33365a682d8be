/**
 * Redis Cluster: a real three-node cluster on free loopback ports. An app runs under the preload
 * with OTEL_BANDWIDTH_REDIS_CLUSTER=true and REDIS_URL naming two seed nodes (not the one that
 * serves the key prefix's slot), an aggregator applies the stream through an ioredis Cluster
 * client, and MySQL holds exactly what the client sent; the query API reads the cluster too.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { Aggregator, readAggregatorConfig } from '@otel-bandwidth/aggregator';
import { decodeBatch, fieldsFromArray, redisKeys } from '@otel-bandwidth/core';
import { RedisMetricExporter } from '@otel-bandwidth/exporter';
import { readPreloadConfig } from '@otel-bandwidth/instrumentation';
import { buildQueryApi, readApiConfig } from '@otel-bandwidth/query-api';
import { Cluster } from 'ioredis';
import { connectRedis } from '../../packages/cli/src/backing-services';
import {
  clientTotals,
  createTestDatabase,
  createTestRedis,
  request,
  startInstrumented,
  stopAllInstrumented,
  type ClientResult,
  type TestDatabase,
  type TestRedis,
} from 'test-support';
import { startPrivateCluster, type PrivateCluster } from '../support/redis-servers';

jest.setTimeout(120_000);

const APP = `'use strict';
const http = require('node:http');
const server = http.createServer((req, res) => {
  let received = 0;
  req.on('data', (c) => { received += c.length; });
  req.on('end', () => {
    const body = JSON.stringify({ url: req.url, received });
    res.writeHead(req.url.startsWith('/missing') ? 404 : 200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.listen(0, '127.0.0.1', () => process.send({ listening: server.address().port }));
`;

let db: TestDatabase;
let r: TestRedis;
let cluster: PrivateCluster;
let dir: string;
let appPath: string;
/** a prefix whose slot the first node does not serve */
let prefix: string;
/** the node that serves it */
let owner: number;
let seeds: string;
beforeAll(async () => {
  db = await createTestDatabase('exporter_cluster');
  r = await createTestRedis('exporter_cluster');
  cluster = await startPrivateCluster(3);
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'obw-cluster-app-'));
  appPath = path.join(dir, 'app.js');
  fs.writeFileSync(appPath, APP);
  const first = cluster.nodes[0]!.client();
  const ranges = (await first.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
  for (let i = 0; ; i++) {
    const candidate = `${r.prefix}-${i}`;
    const slot = Number(await first.call('CLUSTER', 'KEYSLOT', redisKeys(candidate).stream));
    const range = ranges.find(([lo, hi]) => slot >= lo && slot <= hi);
    const port = Number(range?.[2][1]);
    if (port !== cluster.nodes[0]!.port && port !== cluster.nodes[1]!.port) {
      prefix = candidate;
      owner = port;
      break;
    }
  }
  // two seeds, neither of them the owner; the second without a scheme
  seeds = `redis://127.0.0.1:${cluster.nodes[0]!.port},127.0.0.1:${cluster.nodes[1]!.port}`;
});
afterAll(async () => {
  await stopAllInstrumented();
  await cluster.close();
  await db.drop();
  await r.cleanup();
  fs.rmSync(dir, { recursive: true, force: true });
});

interface Totals {
  requests: number;
  inbound: number;
  outbound: number;
  errors: number;
}

function tally(results: ClientResult[]): Totals {
  return { ...clientTotals(results), errors: results.filter((x) => x.status >= 400).length };
}

describe('Redis Cluster', () => {
  it('every process reads OTEL_BANDWIDTH_REDIS_CLUSTER and a comma-separated REDIS_URL', () => {
    const env = { REDIS_URL: seeds, OTEL_BANDWIDTH_REDIS_CLUSTER: 'true' };
    expect(readPreloadConfig(env)).toMatchObject({ redisUrl: seeds, redisCluster: true });
    expect(readAggregatorConfig(env)).toMatchObject({ redisUrl: seeds, redisCluster: true });
    expect(readApiConfig(env)).toMatchObject({ redisUrl: seeds, redisCluster: true });
    expect(readPreloadConfig({})).toMatchObject({ redisUrl: 'redis://127.0.0.1:6379', redisCluster: false });
    expect(() => readAggregatorConfig({ REDIS_URL: seeds })).toThrow(
      'invalid configuration:\n  - REDIS_URL lists several nodes; set OTEL_BANDWIDTH_REDIS_CLUSTER=true if they are a Redis Cluster',
    );
    expect(() => readPreloadConfig({ REDIS_URL: 'redis://a:7000,http://b:7001', OTEL_BANDWIDTH_REDIS_CLUSTER: 'yes' })).toThrow(
      'invalid configuration:\n  - REDIS_URL="redis://a:7000,http://b:7001": "http://b:7001" has scheme "http:", expected redis: or rediss:',
    );
    expect(() => readApiConfig({ REDIS_URL: 'redis://:secret@a:7000,b:x', OTEL_BANDWIDTH_REDIS_CLUSTER: 'true' })).toThrow(
      'invalid configuration:\n  - REDIS_URL="redis://:***@a:7000,b:x": "b:x" is not a Redis Cluster node (expected redis://host:port or host:port)',
    );
  });

  it('the exporter XADDs through a Cluster client it is given, to the node that serves the slot', async () => {
    const client = new Cluster(cluster.nodes.slice(0, 1).map((n) => ({ host: '127.0.0.1', port: n.port })));
    try {
      const exporter = new RedisMetricExporter({ redis: client, keyPrefix: `${prefix}-given`, instanceId: 'given' });
      const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
      const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': 'given-cluster' }), readers: [reader] });
      provider.getMeter('cluster-test').createCounter('hits').add(3);
      await provider.shutdown(); // exports, and leaves the given client open
      expect(exporter.stats()).toMatchObject({ batchesExported: 1, pointsPending: 0, retries: 0 });
      const entries = await client.xrange(redisKeys(`${prefix}-given`).stream, '-', '+');
      expect(entries.map(([, f]) => decodeBatch(fieldsFromArray(f)).batchId)).toEqual([`${exporter.instanceId}:1`]);
      await client.del(redisKeys(`${prefix}-given`).stream);
    } finally {
      client.disconnect();
    }
  });

  it('an app under the preload, the aggregator and the query API on a cluster: exact totals in MySQL', async () => {
    const app = await startInstrumented(appPath, {
      REDIS_URL: seeds,
      OTEL_BANDWIDTH_REDIS_CLUSTER: 'true',
      OTEL_SERVICE_NAME: 'cluster-app',
      OTEL_BANDWIDTH_KEY_PREFIX: prefix,
    });
    const p = app.port;
    const results: ClientResult[] = [];
    for (let i = 0; i < 12; i++) results.push(await request(p, 'GET', `/items/${i}`));
    for (let i = 0; i < 5; i++) results.push(await request(p, 'POST', '/upload', 'c'.repeat(300 + i * 41)));
    results.push(await request(p, 'GET', '/missing/1'), await request(p, 'GET', '/missing/2'));
    expect(await app.stop()).toBe(null); // SIGTERM: the last interval goes out first
    expect(app.stderr()).toBe('');

    // the stream is on the node that serves the prefix's slot
    const ownerNode = cluster.nodes.find((n) => n.port === owner)!;
    const direct = ownerNode.client();
    expect(await direct.xlen(redisKeys(prefix).stream)).toBeGreaterThan(0);

    const redis = await connectRedis(seeds, { cluster: true });
    try {
      expect(redis).toBeInstanceOf(Cluster);
      const aggregator = new Aggregator({ redis, mysql: db.conn, keyPrefix: prefix, consumer: 'cluster', log: () => undefined });
      await aggregator.drainOnce();
      await aggregator.stop();
      expect(aggregator.stats()).toMatchObject({ duplicateBatches: 0, deadLettered: 0 });

      const expected = tally(results);
      expect(expected).toMatchObject({ requests: 19, inbound: 1910, errors: 2 });
      const [rows] = await db.conn.pool.query(
        `SELECT SUM(total_requests) AS requests, SUM(total_inbound) AS inbound, SUM(total_outbound) AS outbound, SUM(error_count) AS errors
         FROM metrics_hourly WHERE service = 'cluster-app'`,
      );
      const x = (rows as Array<Record<string, unknown>>)[0]!;
      expect({ requests: Number(x.requests), inbound: Number(x.inbound), outbound: Number(x.outbound), errors: Number(x.errors) }).toEqual(expected);

      // the API's own client, as `otel-bandwidth api` makes it (a command timeout, no offline queue)
      const apiRedis = await connectRedis(seeds, { cluster: true, commandTimeoutMs: 2000 });
      const api = buildQueryApi({ redis: apiRedis, mysql: db.conn, keyPrefix: prefix });
      try {
        const realtime = await api.inject({ method: 'GET', url: '/metrics/realtime?minutes=5&service=cluster-app' });
        expect(realtime.statusCode).toBe(200);
        expect(realtime.json().summary).toMatchObject({
          totalRequests: expected.requests,
          totalInbound: expected.inbound,
          totalOutbound: expected.outbound,
          errorCount: expected.errors,
        });
        const status = await api.inject({ method: 'GET', url: '/metrics/status' });
        expect(status.statusCode).toBe(200);
        expect(status.json()).toMatchObject({ pending: 0, lag: 0, deadLetters: 0 });
      } finally {
        await api.close();
        apiRedis.disconnect();
      }
    } finally {
      redis.disconnect();
    }
  });
});
