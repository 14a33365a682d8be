/**
 * Redis Cluster failover while the preload exports: three masters with a replica each, on free
 * loopback ports, and an app under the preload whose stream lives on one of the masters. While
 * requests flow, that master first hands its slots to its replica the way an operator does for
 * maintenance (CLUSTER FAILOVER), then the new master is killed outright and the cluster promotes
 * its replica by itself (node timeout 2 s). The exporter keeps what it could not send and sends
 * it to whichever node serves the slot by then; the aggregator applies the stream, and MySQL
 * holds exactly what the client sent and received.
 *
 * Redis replicates asynchronously: a write a master acknowledged an instant before it crashed
 * can be missing from the replica that takes over, and no client can tell. The test pauses
 * writes on the master and waits until its replica has everything before killing it, so that
 * what it checks is the exporter, not Redis's replication.
 */
import path from 'node:path';
import { Aggregator } from '@otel-bandwidth/aggregator';
import { decodeBatch, fieldsFromArray, redisKeys } from '@otel-bandwidth/core';
import Redis, { Cluster } from 'ioredis';
import {
  REGISTER,
  clientTotals,
  createTestDatabase,
  createTestRedis,
  request,
  sleep,
  startInstrumented,
  stopAllInstrumented,
  waitFor,
  type ClientResult,
  type TestDatabase,
  type TestRedis,
  preloadStatsOf,
} from 'test-support';
import { clusterNodes, startPrivateCluster, type PrivateCluster, type PrivateRedis } from '../support/redis-servers';

jest.setTimeout(180_000);

const APP_PATH = path.join(__dirname, 'fixtures', 'echo-with-stats.js');
const SERVICE = 'failover-app';

let db: TestDatabase;
let r: TestRedis;
let cluster: PrivateCluster | undefined;
beforeAll(async () => {
  db = await createTestDatabase('exporter_failover');
  r = await createTestRedis('exporter_failover');
  cluster = await startPrivateCluster(3, { replicas: 1, nodeTimeoutMs: 2000 });
});
afterAll(async () => {
  await stopAllInstrumented();
  await cluster?.close();
  await db?.drop();
  await r?.cleanup();
});

function started(): PrivateCluster {
  if (cluster === undefined) throw new Error('no cluster');
  return cluster;
}

/** one client per node for the test's own questions (a client per question would leave a timer each behind) */
const clients = new Map<PrivateRedis, Redis>();
function clientOf(node: PrivateRedis): Redis {
  let c = clients.get(node);
  if (c === undefined) {
    c = node.client();
    clients.set(node, c);
  }
  return c;
}

function nodeOn(port: number): PrivateRedis {
  const node = started().nodes.find((n) => n.port === port);
  if (node === undefined) throw new Error(`no node on ${port}`);
  return node;
}

/**
 * The master serving `slot` and its replica, once `asSeenBy` sees one of each (a node learns of
 * role changes by gossip, a moment after they happen).
 */
async function masterAndReplica(slot: number, asSeenBy: PrivateRedis): Promise<{ master: PrivateRedis; replica: PrivateRedis }> {
  let seen: unknown;
  try {
    return await waitFor(`a master and a replica for slot ${slot}`, async () => {
      const nodes = await clusterNodes(clientOf(asSeenBy));
      seen = nodes;
      const master = nodes.find((n) => n.role === 'master' && n.slots.some(([lo, hi]) => slot >= lo && slot <= hi));
      const replica = nodes.find((n) => n.role === 'replica' && n.masterId === master?.id);
      return master === undefined || replica === undefined ? undefined : { master: nodeOn(master.port), replica: nodeOn(replica.port) };
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(seen)}`);
  }
}

async function replicationInfo(node: PrivateRedis): Promise<Record<string, string>> {
  const text = String(await clientOf(node).call('INFO', 'replication'));
  return Object.fromEntries(text.split('\r\n').filter((l) => l.includes(':')).map((l) => l.split(':', 2) as [string, string]));
}

async function waitUntilMaster(node: PrivateRedis): Promise<void> {
  await waitFor(`node ${node.port} to be master`, async () => ((await replicationInfo(node)).role === 'master' ? true : undefined), 30_000);
}

/** Requests until stop() is called: GET /items/:n and, every third, an upload of varying size. */
function trafficUntilStopped(port: number): { results: ClientResult[]; stop(): Promise<void> } {
  const results: ClientResult[] = [];
  let running = true;
  // a failed test stops the app under a request in flight: that is not the test's failure
  const loop = (async () => {
    for (let n = 1; running; n++) {
      results.push(await (n % 3 === 0 ? request(port, 'POST', '/upload', 'f'.repeat(50 + (n % 11) * 29)) : request(port, 'GET', `/items/${n}`)));
      await sleep(20);
    }
  })();
  const settled = loop.catch((err: unknown) => err);
  return {
    results,
    stop: async () => {
      running = false;
      const err = await settled;
      if (err !== undefined) throw err;
    },
  };
}

describe('Redis Cluster failover while exporting', () => {
  it('a manual failover, then the new master killed: everything arrives once, and MySQL holds exactly what the client sent', async () => {
    const first = started().nodes[0] as PrivateRedis;
    const prefix = `${r.prefix}-failover`;
    const stream = redisKeys(prefix).stream;
    const slot = Number(await clientOf(first).call('CLUSTER', 'KEYSLOT', stream));
    const before = await masterAndReplica(slot, first);

    const app = await startInstrumented(APP_PATH, {
      OBW_REGISTER: REGISTER,
      REDIS_URL: started().seeds,
      OTEL_BANDWIDTH_REDIS_CLUSTER: 'true',
      OTEL_SERVICE_NAME: SERVICE,
      OTEL_BANDWIDTH_KEY_PREFIX: prefix,
      OTEL_METRIC_EXPORT_INTERVAL: '200',
      OTEL_BANDWIDTH_RETRY_MAX_DELAY: '1000',
    });
    const traffic = trafficUntilStopped(app.port);
    await waitFor('batches on the first master', async () => ((await clientOf(before.master).xlen(stream)) >= 3 ? true : undefined));

    // 1. maintenance: the replica takes over, the old master becomes its replica
    await clientOf(before.replica).call('CLUSTER', 'FAILOVER');
    await waitUntilMaster(before.replica);
    const afterManual = await masterAndReplica(slot, before.replica);
    expect(afterManual.master.port).toBe(before.replica.port);
    expect(afterManual.replica.port).toBe(before.master.port);
    const lengthThen = await clientOf(afterManual.master).xlen(stream);
    await waitFor('batches written to the new master', async () => ((await clientOf(afterManual.master).xlen(stream)) >= lengthThen + 3 ? true : undefined));

    // 2. a crash: writes paused until the replica has all the master acknowledged, then SIGKILL
    await clientOf(afterManual.master).call('CLIENT', 'PAUSE', '30000', 'WRITE');
    await waitFor('the replica to have every acknowledged write', async () => {
      const [m, s] = await Promise.all([replicationInfo(afterManual.master), replicationInfo(afterManual.replica)]);
      return m.master_repl_offset === s.slave_repl_offset ? true : undefined;
    });
    // the test's own client leaves first: one left on a killed server keeps retrying, and its
    // disconnect() waits 2 s for a close that already happened
    await clientOf(afterManual.master).quit();
    await afterManual.master.kill();
    await waitUntilMaster(afterManual.replica);
    const lengthAtPromotion = await clientOf(afterManual.replica).xlen(stream);
    await waitFor(
      'batches written to the promoted replica',
      async () => ((await clientOf(afterManual.replica).xlen(stream)) >= lengthAtPromotion + 3 ? true : undefined),
      60_000,
    );
    await traffic.stop();

    const during = await preloadStatsOf(app);
    expect(during.instrumentation.requests).toBe(traffic.results.length);
    expect(during.exporter.pointsDropped).toBe(0);
    expect(during.exporter.retries).toBeGreaterThan(0); // the crash was seen
    expect(await app.stop()).toBe(null); // SIGTERM: the last interval goes out first

    const redis = new Cluster(
      started().nodes.filter((n) => n.answering).map((n) => ({ host: '127.0.0.1', port: n.port })),
      { redisOptions: { maxRetriesPerRequest: 2 } },
    );
    try {
      const ids = (await redis.xrange(stream, '-', '+')).map(([, f]) => decodeBatch(fieldsFromArray(f)).batchId);
      expect(ids.length).toBeGreaterThanOrEqual(9); // three at least on each master the slot had in turn
      const aggregator = new Aggregator({ redis, mysql: db.conn, keyPrefix: prefix, consumer: 'failover-test', log: () => undefined });
      await aggregator.drainOnce();
      await aggregator.stop();
      const applied = aggregator.stats();
      expect(applied).toMatchObject({ deadLettered: 0 });
      // a batch written again after an unanswered attempt is in the stream twice and counted once
      expect(applied.duplicateBatches).toBe(ids.length - new Set(ids).size);

      const [rows] = await db.conn.pool.query(
        'SELECT SUM(total_requests) AS requests, SUM(total_inbound) AS inbound, SUM(total_outbound) AS outbound FROM metrics_hourly WHERE service = ?',
        [SERVICE],
      );
      const x = (rows as Array<Record<string, unknown>>)[0] ?? {};
      const sent = clientTotals(traffic.results);
      expect({ requests: Number(x.requests), inbound: Number(x.inbound), outbound: Number(x.outbound) }).toEqual(sent);
    } finally {
      redis.disconnect();
    }
  });
});
