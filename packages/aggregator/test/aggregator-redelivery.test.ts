/**
 * The aggregator's less common paths, in process: a batch the ledger already has arriving in a
 * new entry (the flush's totals are rebuilt without it), an entry deleted from the stream before
 * its flush, entries claimed from a consumer that committed but never acknowledged, a flush
 * that fails and is retried while reading goes on, and a flush MySQL refuses for a value. The
 * realtime view's minutes and ten-minute blocks count a batch delivered twice once.
 */
import { Aggregator, RollupWriter, type AggregatorHooks } from '@otel-bandwidth/aggregator';
import { encodeBatch, fieldsToArray, parseRealtimeField, type MetricBatch } from '@otel-bandwidth/core';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';
import { batch } from './fixtures';

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('aggregator_redelivery');
});
beforeEach(async () => {
  r = await createTestRedis('aggregator_redelivery');
});
afterEach(async () => {
  await r.cleanup();
});
afterAll(async () => {
  await db.drop();
});

const silent = (): void => undefined;

/** An aggregator flushing every 100 ms; what it logs goes to `logs`. */
function flushingOften(consumer: string, logs: string[], hooks: AggregatorHooks = {}, readCount?: number): Aggregator {
  return new Aggregator({
    redis: r.redis,
    mysql: db.conn,
    keyPrefix: r.prefix,
    consumer,
    flushIntervalMs: 100,
    ...(readCount === undefined ? {} : { readCount }),
    log: (_level, message) => logs.push(message),
    hooks,
  });
}

/** An aggregator flushing every 100 ms whose first commit fails with `failure`; what it logs goes to `logs`. */
function failingOnce(consumer: string, failure: () => Error, logs: string[], readCount?: number): Aggregator {
  let failures = 0;
  const hooks = {
    beforeCommit: () => {
      if (failures++ === 0) throw failure();
    },
  };
  return flushingOften(consumer, logs, hooks, readCount);
}

function batchOf(id: string, route: string, count: number, outBytes: number): MetricBatch {
  const now = Date.now();
  return batch(id, now - 5000, now, [{ route, count, durationsS: Array<number>(count).fill(0.25), inBytes: count, outBytes }]);
}

async function add(b: MetricBatch): Promise<string> {
  return (await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b)))) as string;
}

async function totals(route: string): Promise<unknown[]> {
  const [rows] = await db.conn.pool.query(
    'SELECT SUM(total_requests) AS requests, SUM(total_inbound) AS inbound, SUM(total_outbound) AS outbound, SUM(duration_sum_ms) AS duration FROM metrics_hourly WHERE endpoint = ?',
    [route],
  );
  return (rows as Array<Record<string, string | null>>).map((x) => Object.fromEntries(Object.entries(x).map(([k, v]) => [k, v === null ? null : Number(v)])));
}

/** Requests the realtime view holds for a route, over every minute key of the prefix (or every ten-minute block key). */
async function realtimeRequests(route: string, hashes: 'minutes' | 'blocks' = 'minutes'): Promise<number> {
  let n = 0;
  for (const key of await r.redis.keys(`{${r.prefix}}:${hashes === 'minutes' ? 'rt' : 'rtb'}:*`)) {
    for (const [field, value] of Object.entries(await r.redis.hgetall(key))) {
      const parsed = parseRealtimeField(field);
      if (parsed?.stat === 'requests' && parsed.series.endpoint === route) n += Number(value);
    }
  }
  return n;
}

async function pending(): Promise<number> {
  const summary = (await r.redis.xpending(r.keys.stream, 'aggregators')) as [number, ...unknown[]];
  return Number(summary[0]);
}

const until = async (probe: () => boolean | Promise<boolean>): Promise<void> => {
  while (!(await probe())) await new Promise((resolve) => setTimeout(resolve, 20));
};

describe('Aggregator redelivery', () => {
  it('a batch the ledger has, arriving in a new entry beside new batches, is counted once', async () => {
    const x = batchOf('rd-a:1', '/rebuild', 2, 20);
    await add(x);
    const first = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'first', log: silent });
    await first.drainOnce();
    await first.stop();
    // the exporter sent it again (an unconfirmed send), with two new batches
    await add(batchOf('rd-a:2', '/rebuild', 3, 30));
    await add(x);
    await add(batchOf('rd-a:3', '/rebuild', 4, 40));
    const second = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'second', log: silent });
    await second.drainOnce();
    await second.stop();
    expect(second.stats()).toMatchObject({ entriesRead: 3, batchesApplied: 2, duplicateBatches: 1, flushes: 1 });
    expect(await totals('/rebuild')).toEqual([{ requests: 9, inbound: 9, outbound: 90, duration: 2250 }]);
    expect(await pending()).toBe(0);
    // the realtime view, minutes and ten-minute blocks alike, has the batch sent again once
    expect(await realtimeRequests('/rebuild')).toBe(9);
    expect(await realtimeRequests('/rebuild', 'blocks')).toBe(9);
  });

  it('an entry deleted from the stream before its flush, with no copy applied, is acknowledged and left out of the ledger', async () => {
    await add(batchOf('rd-b:1', '/deleted', 1, 10));
    const before = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'before', log: silent });
    await before.drainOnce();
    await before.stop();
    await add(batchOf('rd-b:1', '/deleted', 1, 10));
    const gone = await add(batchOf('rd-b:2', '/deleted', 5, 50));
    const logs: string[] = [];
    let deleted = false;
    const agg = new Aggregator({
      redis: r.redis,
      mysql: db.conn,
      keyPrefix: r.prefix,
      consumer: 'deleting',
      flushIntervalMs: 100,
      log: (_level, message) => logs.push(message),
      hooks: {
        // read and merged: now the entry goes away (XDEL by an operator)
        afterRead: async () => {
          if (deleted) return;
          deleted = true;
          await r.redis.xdel(r.keys.stream, gone);
        },
      },
    });
    await agg.start();
    await until(() => agg.stats().flushes >= 1);
    await agg.stop();
    expect(agg.stats()).toMatchObject({ batchesApplied: 0, duplicateBatches: 1 });
    expect(logs).toContain(`entry ${gone} (batch rd-b:2) was deleted from the stream before it could be applied; acknowledged`);
    expect(await totals('/deleted')).toEqual([{ requests: 1, inbound: 1, outbound: 10, duration: 250 }]);
    const [ledger] = await db.conn.pool.query("SELECT batch_id FROM metrics_batch_ledger WHERE batch_id LIKE 'rd-b:%'");
    expect(ledger).toEqual([{ batch_id: 'rd-b:1' }]);
    expect(await pending()).toBe(0);
  });

  it('claims the entries of a consumer that committed and died before XACK, and finds them in the ledger', async () => {
    const batches = [batchOf('rd-c:1', '/claimed', 1, 1), batchOf('rd-c:2', '/claimed', 2, 2), batchOf('rd-c:3', '/claimed', 3, 3)];
    for (const b of batches) await add(b);
    await r.redis.xgroup('CREATE', r.keys.stream, 'aggregators', '0', 'MKSTREAM').catch(() => undefined);
    // the dead consumer: read the entries, committed them, never acknowledged
    const read = (await r.redis.xreadgroup('GROUP', 'aggregators', 'ghost', 'COUNT', 10, 'STREAMS', r.keys.stream, '>')) as Array<[string, Array<[string, string[]]>]>;
    const ids = read[0]?.[1].map(([id]) => id) ?? [];
    expect(ids).toHaveLength(3);
    await new RollupWriter(db.conn).apply(batches.map((b, i) => ({ streamId: ids[i] as string, batch: b })));

    // a fresh batch too, so the aggregator has something of its own
    await add(batchOf('rd-c:4', '/claimed', 4, 4));
    const logs: string[] = [];
    const agg = new Aggregator({
      redis: r.redis,
      mysql: db.conn,
      keyPrefix: r.prefix,
      consumer: 'heir',
      claimIdleMs: 100,
      flushIntervalMs: 100,
      log: (_level, message) => logs.push(message),
    });
    await agg.start();
    await until(async () => agg.stats().duplicateBatches + agg.stats().batchesApplied === 4 && (await pending()) === 0);
    await agg.stop();
    expect(agg.stats()).toMatchObject({ batchesApplied: 1, duplicateBatches: 3, deadLettered: 0 });
    expect(logs).toContain('claimed 3 entries left pending by other consumers');
    expect(await totals('/claimed')).toEqual([{ requests: 10, inbound: 10, outbound: 10, duration: 2500 }]);
    // the batches the ledger had are not added to the realtime view again: only the fresh one's 4
    expect(await realtimeRequests('/claimed')).toBe(4);
    expect(await realtimeRequests('/claimed', 'blocks')).toBe(4);
  });

  it('a flush that fails is flushed again first, while reading goes on', async () => {
    const logs: string[] = [];
    const agg = failingOnce('retrying', () => new Error('the disk is full'), logs, 5);
    await agg.start();
    for (let i = 1; i <= 30; i++) await add(batchOf(`rd-d:${i}`, '/retried', i, 10 * i));
    await until(async () => agg.stats().batchesApplied === 30 && (await pending()) === 0);
    await agg.stop();
    expect(agg.stats()).toMatchObject({ batchesApplied: 30, duplicateBatches: 0, deadLettered: 0, failedFlushes: 1 });
    expect(logs.filter((l) => l.startsWith('flush failed: the disk is full'))).toHaveLength(1);
    // 1 + 2 + ... + 30 requests
    expect(await totals('/retried')).toEqual([{ requests: 465, inbound: 465, outbound: 4650, duration: 465 * 250 }]);
  });

  it('logs why a flush failed in one line: the driver\'s reason, not the failed query and its parameters', async () => {
    const logs: string[] = [];
    const cause = Object.assign(new Error("Table 'obw.metrics_hourly' doesn't exist"), { code: 'ER_NO_SUCH_TABLE' });
    const agg = failingOnce('reasoned', () => new Error('Failed query: insert into `metrics_hourly` ...\nparams: shop,/secret/user-42', { cause }), logs);
    await agg.start();
    await add(batchOf('rd-e:1', '/reasoned', 1, 10));
    await until(async () => agg.stats().batchesApplied === 1 && (await pending()) === 0);
    await agg.stop();
    expect(logs.filter((l) => l.startsWith('flush failed'))).toEqual([
      "flush failed: Table 'obw.metrics_hourly' doesn't exist (ER_NO_SUCH_TABLE) (holding 1 entries; retrying)",
    ]);
  });

  it('a flush MySQL refuses for a value goes one batch at a time, resumes where it stopped after a failure, and counts nothing twice', async () => {
    const logs: string[] = [];
    const outOfRange = (): Error => new Error('Failed query: ...', { cause: Object.assign(new Error("Out of range value for column 'total_outbound'"), { errno: 1264, code: 'ER_WARN_DATA_OUT_OF_RANGE' }) });
    let singles = 0;
    let acks = 0;
    const agg = flushingOften('one-at-a-time', logs, {
      beforeCommit: (flush) => {
        if (flush.batches > 1) throw outOfRange();
        if (++singles === 3) throw outOfRange(); // the third batch alone: refused
      },
      beforeAck: () => {
        if (++acks === 4) throw new Error('MySQL went away'); // the fifth batch: committed, not acknowledged
      },
    });
    for (let i = 1; i <= 10; i++) await add(batchOf(`rd-f:${i}`, '/one-at-a-time', i, 10 * i));
    await agg.start();
    await until(async () => agg.stats().flushes === 1 && (await pending()) === 0);
    await agg.stop();

    // the fifth batch was committed (and counted) before the failure: the retry finds it in the ledger
    expect(agg.stats()).toMatchObject({ batchesApplied: 9, duplicateBatches: 1, deadLettered: 1, failedFlushes: 1, entriesBuffered: 0 });
    expect([singles, acks]).toEqual([11, 10]);
    // 1 + 2 + ... + 10 requests, without the third batch's 3
    expect(await totals('/one-at-a-time')).toEqual([{ requests: 52, inbound: 52, outbound: 520, duration: 52 * 250 }]);
    const dead = await r.redis.xrange(r.keys.deadLetter, '-', '+');
    expect(dead.map(([, f]) => [f[1], f[f.indexOf('orig.id') + 1]])).toEqual([
      ["MySQL refused its totals: Out of range value for column 'total_outbound' (ER_WARN_DATA_OUT_OF_RANGE)", 'rd-f:3'],
    ]);
    expect(logs.filter((l) => l.startsWith('flush failed'))).toEqual([
      // the refused third batch stays held until the flush ends (it is set aside then)
      expect.stringMatching(/^flush failed: MySQL went away \(holding 7 entries; retrying\)$/),
    ]);
    // the realtime view has every applied batch, those before the failure included
    expect(await realtimeRequests('/one-at-a-time')).toBe(52);
    expect(await realtimeRequests('/one-at-a-time', 'blocks')).toBe(52);
  });

  it('a flush whose batches MySQL refuses each alone is kept and retried, not dead-lettered', async () => {
    const logs: string[] = [];
    const refused = (): Error => new Error('Failed query: ...', { cause: Object.assign(new Error("Column 'service' cannot be null"), { errno: 1048, code: 'ER_BAD_NULL_ERROR' }) });
    let refusing = true;
    const agg = flushingOften('schema-at-fault', logs, {
      beforeCommit: () => {
        if (refusing) throw refused();
      },
    });
    for (let i = 1; i <= 3; i++) await add(batchOf(`rd-g:${i}`, '/refused-alone', i, 10));
    await agg.start();
    await until(() => agg.stats().failedFlushes >= 2);
    expect(agg.stats()).toMatchObject({ batchesApplied: 0, deadLettered: 0, entriesBuffered: 3 });
    expect(logs).toContain(
      "flush failed: MySQL refused each of the flush's 3 batches alone (Column 'service' cannot be null (ER_BAD_NULL_ERROR)): kept, not dead-lettered; is the schema this version's (otel-bandwidth migrate)? (holding 3 entries; retrying)",
    );
    // the fault mended (a migration, a fixed aggregator): they are applied, each once
    refusing = false;
    await until(async () => agg.stats().batchesApplied === 3 && (await pending()) === 0);
    await agg.stop();
    expect(await r.redis.xlen(r.keys.deadLetter)).toBe(0);
    expect(await totals('/refused-alone')).toEqual([{ requests: 6, inbound: 6, outbound: 30, duration: 6 * 250 }]);
  });

  it('an aggregator stopping with entries it could not apply stays in the group, so that another claims them', async () => {
    const agg = flushingOften('leaving', [], {
      beforeCommit: () => {
        throw new Error('MySQL is read-only');
      },
    });
    await add(batchOf('rd-h:1', '/left-pending', 1, 10));
    await agg.start();
    await until(() => agg.stats().failedFlushes >= 1);
    await agg.stop();
    const consumers = (await r.redis.xinfo('CONSUMERS', r.keys.stream, 'aggregators')) as unknown[][];
    expect(consumers.map((c) => [c[c.indexOf('name') + 1], c[c.indexOf('pending') + 1]])).toEqual([['leaving', 1]]);
    // a second one, stopping cleanly with nothing pending, leaves
    const clean = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'clean', claimIdleMs: 60_000, log: () => undefined });
    await clean.drainOnce();
    await clean.stop();
    const after = (await r.redis.xinfo('CONSUMERS', r.keys.stream, 'aggregators')) as unknown[][];
    expect(after.map((c) => c[c.indexOf('name') + 1])).toEqual(['leaving']);
  });

  it('makes its consumer group again when Redis lost it (restarted without its data), and goes on applying', async () => {
    const logs: string[] = [];
    const agg = flushingOften('regrouping', logs);
    await agg.start();
    await add(batchOf('rd-i:1', '/regrouped', 2, 20));
    await until(async () => agg.stats().batchesApplied === 1 && (await pending()) === 0);
    // what a Redis restarted without persistence looks like: no stream, no group
    await r.redis.del(r.keys.stream);
    await add(batchOf('rd-i:2', '/regrouped', 3, 30));
    await until(async () => agg.stats().batchesApplied === 2);
    const stopping = agg.stop();
    await stopping;
    expect(logs).toContain(
      `the consumer group aggregators on ${r.keys.stream} is gone (Redis restarted without its data?): creating it again; what the stream held unapplied went with it`,
    );
    expect(await totals('/regrouped')).toEqual([{ requests: 5, inbound: 5, outbound: 50, duration: 5 * 250 }]);
  });

  it('stops at once while it waits between retries', async () => {
    const agg = flushingOften('patient', [], {
      beforeCommit: () => {
        throw new Error('MySQL is read-only');
      },
    });
    await add(batchOf('rd-j:1', '/patient', 1, 10));
    await agg.start();
    // four failures in a row: the wait before the next try is 4 s
    await until(() => agg.stats().failedFlushes >= 4);
    // stop() ends before the wait would have: which comes first, not how long it took
    const first = await Promise.race([agg.stop().then(() => 'stopped'), new Promise((resolve) => setTimeout(() => resolve('waited'), 3000).unref())]);
    expect(first).toBe('stopped');
  });

  it('stops at once when stop() comes while the step that then fails is running', async () => {
    let commits = 0;
    let inFifth: () => void = () => undefined;
    const fifth = new Promise<void>((resolve) => (inFifth = resolve));
    const agg = flushingOften('stopped-mid-step', [], {
      beforeCommit: async () => {
        if (++commits === 5) inFifth();
        await new Promise((resolve) => setTimeout(resolve, 300));
        throw new Error('MySQL is read-only');
      },
    });
    await add(batchOf('rd-l:1', '/mid-step', 1, 10));
    await agg.start();
    await fifth;
    // the fifth failure would be followed by an 8 s wait
    const first = await Promise.race([agg.stop().then(() => 'stopped'), new Promise((resolve) => setTimeout(() => resolve('waited'), 3000).unref())]);
    expect(first).toBe('stopped');
  });

  it('says in its log when a flush waits on a MySQL that does not answer', async () => {
    const logs: string[] = [];
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const agg = new Aggregator({
      redis: r.redis,
      mysql: db.conn,
      keyPrefix: r.prefix,
      consumer: 'waiting',
      flushIntervalMs: 100,
      slowFlushWarningMs: 200,
      log: (_level, message) => logs.push(message),
      hooks: { beforeCommit: () => held },
    });
    await add(batchOf('rd-k:1', '/waited', 1, 10));
    await agg.start();
    await until(() => logs.some((l) => l.startsWith('a flush of 1 entries has waited')));
    release();
    await until(async () => agg.stats().batchesApplied === 1 && (await pending()) === 0);
    await agg.stop();
    expect(logs.filter((l) => l.includes('has waited')).every((l) => /^a flush of 1 entries has waited \d+ s for MySQL or Redis to answer; still waiting$/.test(l))).toBe(true);
    expect(await totals('/waited')).toEqual([{ requests: 1, inbound: 1, outbound: 10, duration: 250 }]);
  });
});
