/**
 * GET /metrics/daily over a real MariaDB: the metrics_daily rows the aggregator's RollupWriter
 * derives from the hours it writes, read back per service and UTC day, exactly.
 */
import { RollupWriter } from '@otel-bandwidth/aggregator';
import { DAY_MS, HOUR_MS, dayStart, utcDate, type MetricBatch } from '@otel-bandwidth/core';
import { buildQueryApi } from '@otel-bandwidth/query-api';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, createTestRedis, timedRequestsBatch, type TestDatabase, type TestRedis } from 'test-support';

let db: TestDatabase;
let r: TestRedis;
let api: FastifyInstance;

/** The clock of the API: 10:01 UTC, so no midnight falls between writing the days and reading them. */
const NOW = Date.UTC(2026, 11, 5, 10, 1);
const today = dayStart(NOW);

/** `count` requests of 10 ms each to GET `route` of `service`, `outBytes` of response bodies in all, by `users`. */
function batch(service: string, atMs: number, route: string, count: number, outBytes: number, users: string[] = []): MetricBatch {
  const requests = timedRequestsBatch(service, 'GET', route, atMs, new Array<number>(count).fill(10), outBytes);
  return { ...requests, users: users.map((u) => ({ id: u, requests: 1, inboundBytes: 0, outboundBytes: 1 })) };
}

beforeAll(async () => {
  db = await createTestDatabase('query_daily');
  r = await createTestRedis('query_daily');
  api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix });
  await new RollupWriter(db.conn).apply([
    { streamId: '1-1', batch: batch('shop', today + 60_000, '/a', 3, 300, ['u1', 'u2']) },
    { streamId: '1-2', batch: batch('shop', today + HOUR_MS + 60_000, '/b', 1, 1000, ['u1']) },
    { streamId: '1-3', batch: batch('shop', today - DAY_MS + 60_000, '/a', 2, 20) },
    { streamId: '1-4', batch: batch('shop', today - 10 * DAY_MS + 60_000, '/a', 5, 50) },
    { streamId: '1-5', batch: batch('admin', today + 60_000, '/x', 1, 7) },
  ]);
  // the API's clock, once the days are written
  jest.spyOn(Date, 'now').mockReturnValue(NOW);
});
afterAll(async () => {
  jest.restoreAllMocks();
  await api.close();
  await db.drop();
  await r.cleanup();
});

type Row = Record<string, unknown>;
const figures = (rows: Row[]): unknown[][] =>
  rows.map((row) => [row.date, row.service, row.total_requests, row.total_outbound, row.total_bandwidth, row.avg_response_time, row.peak_bandwidth, row.peak_hour, row.unique_users]);

describe('GET /metrics/daily', () => {
  it('lists the rows of the UTC days overlapping the last N days, newest first, per service', async () => {
    const res = await api.inject({ url: '/metrics/daily?days=1' });
    expect(res.statusCode).toBe(200);
    const rows = res.json() as Row[];
    expect(figures(rows)).toEqual([
      [utcDate(today), 'admin', 1, 7, 7, 10, 7, new Date(today).toISOString(), 0],
      // the busiest hour is the second (1,000 bytes against 300); u1 and u2 are two users, not three
      [utcDate(today), 'shop', 4, 1300, 1300, 10, 1000, new Date(today + HOUR_MS).toISOString(), 2],
      [utcDate(today - DAY_MS), 'shop', 2, 20, 20, 10, 20, new Date(today - DAY_MS).toISOString(), 0],
    ]);
    expect(Object.keys(rows[0]!)).toEqual([
      'id', 'service', 'date', 'protocol', 'total_bandwidth', 'total_inbound', 'total_outbound', 'total_inbound_wire', 'total_outbound_wire',
      'total_requests', 'error_count', 'avg_response_time', 'peak_bandwidth', 'peak_hour', 'unique_users', 'created_at', 'updated_at',
    ]);
    expect([rows[0]!.protocol, rows[0]!.total_inbound, rows[0]!.error_count]).toEqual(['http', 0, 0]);
  });

  it('filters by service and reaches back as far as asked', async () => {
    const rows = (await api.inject({ url: '/metrics/daily?days=30&service=shop' })).json() as Row[];
    expect(rows.map((row) => [row.date, row.total_requests])).toEqual([
      [utcDate(today), 4],
      [utcDate(today - DAY_MS), 2],
      [utcDate(today - 10 * DAY_MS), 5],
    ]);
  });

  it('answers CSV with the JSON rows\' columns', async () => {
    const res = await api.inject({ url: '/metrics/daily?days=1&service=admin&format=csv' });
    expect(res.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(res.headers['content-disposition']).toBe('attachment; filename="otel-bandwidth-daily.csv"');
    const [header, first, end] = res.body.split('\r\n');
    expect(header).toBe(
      'id,service,date,protocol,total_bandwidth,total_inbound,total_outbound,total_inbound_wire,total_outbound_wire,total_requests,error_count,avg_response_time,peak_bandwidth,peak_hour,unique_users,created_at,updated_at',
    );
    expect(first!.split(',').slice(1, 15)).toEqual(['admin', utcDate(today), 'http', '7', '0', '7', '0', '0', '1', '0', '10', '7', new Date(today).toISOString(), '0']);
    expect(end).toBe('');
  });

  it.each([
    ['/metrics/daily?days=0', 'querystring/days must be >= 1'],
    ['/metrics/daily?days=3661', 'querystring/days must be <= 3660'],
    ['/metrics/daily?days=two', 'querystring/days must be integer'],
  ])('%s is a 400 that says why', async (url, message) => {
    const res = await api.inject({ url });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ statusCode: 400, error: 'Bad Request', message });
  });
});
