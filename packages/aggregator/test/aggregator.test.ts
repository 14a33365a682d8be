import { Aggregator } from '@otel-bandwidth/aggregator';
import { encodeBatch, fieldsToArray, minuteStart, parseRealtimeField } from '@otel-bandwidth/core';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';
import { batch } from './fixtures';

let db: TestDatabase;
let r: TestRedis;
beforeAll(async () => {
  db = await createTestDatabase('aggregator');
  r = await createTestRedis('aggregator');
});
afterAll(async () => {
  await db.drop();
  await r.cleanup();
});

const silent = (): void => undefined;

describe('Aggregator', () => {
  it('applies the stream exactly once, dead-letters what it cannot decode, and trims what it acknowledged', async () => {
    const now = Date.now();
    const b1 = batch('proc-a:1', now - 5000, now, [{ route: '/users/:id', count: 10, durationsS: Array(10).fill(0.002), inBytes: 0, outBytes: 1000 }]);
    const b2 = batch('proc-b:1', now - 5000, now, [{ route: '/users/:id', count: 5, durationsS: Array(5).fill(0.004), inBytes: 100, outBytes: 500 }]);
    await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b1)));
    await r.redis.xadd(r.keys.stream, '*', 'v', '1', 'id', 'broken:1', 'enc', 'json', 'body', '{not json');
    await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b2)));
    await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b1))); // delivered twice
    await r.redis.xadd(r.keys.stream, '*', 'v', '9', 'id', 'future:1');

    const agg = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'c1', log: silent });
    await agg.drainOnce();
    await agg.stop();

    const [rows] = await db.conn.pool.query('SELECT endpoint, total_requests, total_inbound, total_outbound, duration_sum_ms FROM metrics_hourly');
    expect(rows).toEqual([{ endpoint: '/users/:id', total_requests: 15, total_inbound: 100, total_outbound: 1500, duration_sum_ms: 40 }]);
    expect(agg.stats()).toMatchObject({ entriesRead: 5, batchesApplied: 2, duplicateBatches: 1, deadLettered: 2, flushes: 1 });

    const dead = await r.redis.xrange(r.keys.deadLetter, '-', '+');
    expect(dead.map(([, f]) => [f[1], f[3]])).toEqual([
      [expect.stringContaining('body is not valid JSON'), expect.any(String)],
      ['unsupported format version "9" (this reader understands 1)', expect.any(String)],
    ]);
    expect(await r.redis.xlen(r.keys.stream)).toBe(0);
    const groups = (await r.redis.xinfo('GROUPS', r.keys.stream)) as unknown[][];
    expect(groups[0]?.[groups[0].indexOf('pending') + 1]).toBe(0);
    // stopped with nothing pending: it left the group, whose consumers are the live ones
    expect(groups[0]?.[groups[0].indexOf('consumers') + 1]).toBe(0);

    const minute = await r.redis.hgetall(r.keys.realtimeMinute(minuteStart(now - 2500)));
    const byStat = Object.fromEntries(
      Object.entries(minute).map(([f, v]) => {
        const parsed = parseRealtimeField(f);
        return [`${parsed?.stat}${parsed?.bucket ?? ''}`, Number(v)];
      }),
    );
    // 2 and 4 ms: all 15 in the storage bucket (2.5, 5] ms, index 5
    expect(byStat).toEqual({ requests: 15, inboundBytes: 100, outboundBytes: 1500, durationSumMs: 40, maxDurationMs: 4, minDurationMs: 2, durationBucket5: 15 });
    expect(await r.redis.ttl(r.keys.realtimeMinute(minuteStart(now - 2500)))).toBeGreaterThan(7000);
    expect(Number((await r.redis.hgetall(r.keys.aggregatorStatus)).lastFlushMs)).toBeGreaterThanOrEqual(now);
  });

  it('dead-letters an entry whose times MySQL cannot store, ignores durations its columns cannot hold, and commits the rest', async () => {
    await db.conn.pool.query('DELETE FROM metrics_hourly');
    await r.redis.del(r.keys.stream, r.keys.deadLetter);
    const now = Date.now();
    const year11476 = 3e14;
    const good = batch('times:1', now - 5000, now, [{ route: '/ok', count: 3, durationsS: [0.002, 0.002, 0.002], inBytes: 0, outBytes: 300 }]);
    const farFuture = batch('times:2', year11476 - 5000, year11476, [{ route: '/future', count: 1, durationsS: [0.002], inBytes: 0, outBytes: 10 }]);
    const endless = batch('times:3', now - 5000, now, [{ route: '/endless', count: 1, durationsS: [1e12], inBytes: 0, outBytes: 50 }]);
    for (const b of [good, farFuture, endless]) await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b)));

    const agg = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'times', log: silent });
    await agg.drainOnce();
    await agg.stop();

    const [rows] = await db.conn.pool.query('SELECT endpoint, total_requests, total_outbound, max_response_time FROM metrics_hourly ORDER BY endpoint');
    expect(rows).toEqual([
      // its duration point is ignored (1e15 ms); its byte counts are kept
      { endpoint: '/endless', total_requests: 0, total_outbound: 50, max_response_time: 0 },
      { endpoint: '/ok', total_requests: 3, total_outbound: 300, max_response_time: 2 },
    ]);
    expect(agg.stats()).toMatchObject({ batchesApplied: 2, deadLettered: 1, pointsRefused: 1, pointsIgnored: 0 });
    const dead = await r.redis.xrange(r.keys.deadLetter, '-', '+');
    expect(dead.map(([, f]) => f[1])).toEqual([expect.stringMatching(/^the batch start time 299999999995000 ms is outside 2000-01-01 to a day past this aggregator's clock/)]);
    expect(await r.redis.xlen(r.keys.stream)).toBe(0);
  });

  it('sets aside a batch whose totals MySQL refuses and applies the rest of its flush, each once', async () => {
    await db.conn.pool.query('DELETE FROM metrics_hourly');
    await r.redis.del(r.keys.stream, r.keys.deadLetter);
    const now = Date.now();
    const seed = batch('huge:1', now - 5000, now, [{ route: '/huge', count: 1, durationsS: [0.002], inBytes: 0, outBytes: 1 }], 'giant');
    await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(seed)));
    const agg = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'huge', log: silent });
    await agg.drainOnce();
    // the row is 1 short of BIGINT UNSIGNED's largest value: adding 9e15 more overflows it (its
    // own service, so the daily total of the other rows' service still fits)
    await db.conn.pool.query("UPDATE metrics_hourly SET total_outbound = 18446744073709551614 WHERE endpoint = '/huge'");

    const before = batch('huge:2', now - 5000, now, [{ route: '/ok', count: 2, durationsS: [0.002, 0.002], inBytes: 0, outBytes: 200 }]);
    const overflowing = batch('huge:3', now - 5000, now, [{ route: '/huge', count: 1, durationsS: [0.002], inBytes: 0, outBytes: 9e15 }], 'giant');
    const after = batch('huge:4', now - 5000, now, [{ route: '/ok', count: 3, durationsS: [0.002, 0.002, 0.002], inBytes: 0, outBytes: 300 }]);
    for (const b of [before, overflowing, after, before]) await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b)));
    const logged: string[] = [];
    const agg2 = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'huge', log: (_, m) => logged.push(m) });
    await agg2.drainOnce();
    await agg2.stop();
    await agg.stop();

    const [rows] = await db.conn.pool.query('SELECT endpoint, total_requests, CAST(total_outbound AS CHAR) AS outbound FROM metrics_hourly ORDER BY endpoint');
    expect(rows).toEqual([
      { endpoint: '/huge', total_requests: 1, outbound: '18446744073709551614' },
      { endpoint: '/ok', total_requests: 5, outbound: '500' },
    ]);
    expect(agg2.stats()).toMatchObject({ entriesRead: 4, batchesApplied: 2, duplicateBatches: 1, deadLettered: 1, flushes: 1, entriesBuffered: 0 });
    const dead = await r.redis.xrange(r.keys.deadLetter, '-', '+');
    expect(dead.map(([, f]) => f[1])).toEqual([expect.stringMatching(/^MySQL refused its totals: .*out of range.* \(ER_(WARN_)?DATA_OUT_OF_RANGE\)$/)]);
    expect(dead.map(([, f]) => f[f.indexOf('orig.id') + 1])).toEqual(['huge:3']);
    expect(logged.filter((m) => m.startsWith('MySQL refused a flush of 3 batches'))).toHaveLength(1);
    expect(logged.join('\n')).not.toContain('9000000000000000');
    expect(await r.redis.xlen(r.keys.stream)).toBe(0);
    const [ledger] = await db.conn.pool.query("SELECT batch_id FROM metrics_batch_ledger WHERE batch_id LIKE 'huge:%' ORDER BY batch_id");
    expect((ledger as Array<{ batch_id: string }>).map((l) => l.batch_id)).toEqual(['huge:1', 'huge:2', 'huge:4']);
  });

  it('re-reads its own pending entries after a restart and applies them once', async () => {
    const now = Date.now();
    const b = batch('proc-c:1', now - 5000, now, [{ route: '/orders', method: 'POST', count: 3, durationsS: [0.01, 0.01, 0.01], inBytes: 30, outBytes: 60 }]);
    await r.redis.xadd(r.keys.stream, '*', ...fieldsToArray(encodeBatch(b)));
    // a consumer that read the entry and died before acknowledging it
    await r.redis.xreadgroup('GROUP', 'aggregators', 'c2', 'COUNT', 10, 'STREAMS', r.keys.stream, '>');
    const restarted = new Aggregator({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix, consumer: 'c2', log: silent });
    await restarted.drainOnce();
    await restarted.stop();
    const [rows] = await db.conn.pool.query("SELECT total_requests, total_inbound, total_outbound FROM metrics_hourly WHERE endpoint = '/orders'");
    expect(rows).toEqual([{ total_requests: 3, total_inbound: 30, total_outbound: 60 }]);
    expect(restarted.stats()).toMatchObject({ entriesRead: 1, batchesApplied: 1 });
  });
});
