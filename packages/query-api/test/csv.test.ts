/**
 * ?format=csv: the cell rules (pure), and the hourly rows, the endpoints and the users as CSV
 * from rows written here directly into a database of this file's own.
 */
import { buildQueryApi } from '@otel-bandwidth/query-api';
import { metricsHourly, metricsUsersHourly } from '@otel-bandwidth/storage';
import type { FastifyInstance } from 'fastify';
import { createTestDatabase, createTestRedis, type TestDatabase, type TestRedis } from 'test-support';
import { csvCell, toCsv } from '../src/csv';

describe('CSV cells', () => {
  it('quotes what needs quotes, doubles quotes, and leaves numbers and plain text alone', () => {
    expect([1234, 0.125, null, undefined, Number.NaN, true, '/api/a', 'a,b', 'say "hi"', 'two\nlines'].map(csvCell)).toEqual([
      '1234', '0.125', '', '', '', 'true', '/api/a', '"a,b"', '"say ""hi"""', '"two\nlines"',
    ]);
  });

  it("keeps a spreadsheet from reading a text cell as a formula", () => {
    expect(['=HYPERLINK("x")', '+1', '-2', '@SUM(A1)', '\tx', 'a=b'].map(csvCell)).toEqual(["\"'=HYPERLINK(\"\"x\"\")\"", "'+1", "'-2", "'@SUM(A1)", "'\tx", 'a=b']);
    // a negative number is a number
    expect(csvCell(-2)).toBe('-2');
  });

  it('writes a header line and a line per row, CRLF ended', () => {
    expect(toCsv<{ a: number; b: string | null }>(['b', 'a'], [{ a: 1, b: 'x' }, { a: 2, b: null }])).toBe('b,a\r\nx,1\r\n,2\r\n');
    expect(toCsv<{ a: number }>(['a'], [])).toBe('a\r\n');
  });
});

describe('?format=csv', () => {
  let db: TestDatabase;
  let r: TestRedis;
  let api: FastifyInstance;
  const HOUR = 3_600_000;
  const thisHour = new Date(Math.floor(Date.now() / HOUR) * HOUR);

  beforeAll(async () => {
    db = await createTestDatabase('query_api_csv');
    r = await createTestRedis('query_api_csv');
    api = buildQueryApi({ redis: r.redis, mysql: db.conn, keyPrefix: r.prefix });
    await db.conn.db.insert(metricsHourly).values([
      {
        service: 'shop', endpoint: '/api/a', method: 'GET', hourStart: thisHour, totalRequests: 4, totalInbound: 0, totalOutbound: 4_000,
        totalInboundWire: 400, totalOutboundWire: 4_800, durationSumMs: 10, minResponseTime: 1, maxResponseTime: 4, errorCount: 1, successCount: 3, durationLe5ms: 4,
      },
      {
        service: 'shop', endpoint: '/search,"q"', method: 'POST', hourStart: thisHour, totalRequests: 2, totalInbound: 50, totalOutbound: 20,
        totalInboundWire: 250, totalOutboundWire: 220, durationSumMs: 30, minResponseTime: 10, maxResponseTime: 20, successCount: 2, durationLe25ms: 2,
      },
    ]);
    await db.conn.db.insert(metricsUsersHourly).values([
      { service: 'shop', hourStart: thisHour, userId: 'alice', requests: 5, totalInbound: 50, totalOutbound: 3_000 },
      { service: 'shop', hourStart: thisHour, userId: '=cmd|calc', requests: 1, totalInbound: 0, totalOutbound: 1_020 },
    ]);
  });
  afterAll(async () => {
    await api.close();
    await db.drop();
    await r.cleanup();
  });

  async function csv(url: string): Promise<{ lines: string[]; type: string | undefined; disposition: string | undefined }> {
    const res = await api.inject({ url });
    expect(res.statusCode).toBe(200);
    expect(res.body.endsWith('\r\n')).toBe(true);
    return { lines: res.body.slice(0, -2).split('\r\n'), type: res.headers['content-type'] as string, disposition: res.headers['content-disposition'] as string };
  }

  it('gives the endpoints as CSV, the columns of the JSON answer in its order', async () => {
    const { lines, type, disposition } = await csv('/metrics/endpoints?hours=1&format=csv');
    expect(type).toBe('text/csv; charset=utf-8');
    expect(disposition).toBe('attachment; filename="otel-bandwidth-endpoints.csv"');
    expect(lines).toEqual([
      'service,endpoint,method,protocol,totalRequests,totalInbound,totalOutbound,totalBandwidth,totalInboundWire,totalOutboundWire,errorCount,errorRate,avgResponseTime,minResponseTime,maxResponseTime,p50,p95,p99',
      // 4 requests in the (2.5, 5] ms bucket, narrowed to (2.5, 4] by the slowest: p50 2.5 + 1.5 x 0.5
      'shop,/api/a,GET,http,4,0,4000,4000,400,4800,1,0.25,2.5,1,4,3.25,3.925,3.985',
      'shop,"/search,""q""",POST,http,2,50,20,70,250,220,0,0,15,10,20,15,19.5,19.9',
    ]);
  });

  it('gives the hourly rows as CSV', async () => {
    const { lines, disposition } = await csv('/metrics/hourly?hours=1&service=shop&method=GET&format=csv');
    expect(disposition).toBe('attachment; filename="otel-bandwidth-hourly.csv"');
    expect(lines[0]).toBe(
      'id,service,endpoint,method,protocol,hour_start,total_requests,total_inbound,total_outbound,total_inbound_wire,total_outbound_wire,avg_response_time,max_response_time,min_response_time,error_count,success_count,created_at,updated_at',
    );
    expect(lines).toHaveLength(2);
    const cells = (lines[1] as string).split(',');
    expect(cells.slice(1, 16)).toEqual(['shop', '/api/a', 'GET', 'http', thisHour.toISOString(), '4', '0', '4000', '400', '4800', '2.5', '4', '1', '1', '3']);
  });

  it("gives the users as CSV, a user id that reads as a formula made text", async () => {
    const { lines } = await csv('/metrics/users?hours=1&format=csv');
    expect(lines).toEqual(['service,userId,totalRequests,totalInbound,totalOutbound,totalBandwidth', 'shop,alice,5,50,3000,3050', "shop,'=cmd|calc,1,0,1020,1020"]);
  });

  it('answers JSON without format, and refuses a format it does not know', async () => {
    const json = await api.inject({ url: '/metrics/users?hours=1' });
    expect(json.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(json.json().users).toHaveLength(2);
    const bad = await api.inject({ url: '/metrics/users?format=xml' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toBe('querystring/format must be one of json, csv');
  });
});
