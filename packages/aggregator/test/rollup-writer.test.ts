import { RollupWriter } from '@otel-bandwidth/aggregator';
import { createTestDatabase, type TestDatabase } from 'test-support';
import { HOUR, T0, batch } from './fixtures';

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase('rollup_writer');
});
afterAll(async () => {
  await db.drop();
});

async function hourlyRows(): Promise<Array<Record<string, unknown>>> {
  const [rows] = await db.conn.pool.query(
    `SELECT service, endpoint, method, protocol, DATE_FORMAT(hour_start, '%Y-%m-%dT%H:%i') AS hour, total_requests, total_inbound, total_outbound,
            duration_sum_ms, avg_response_time, min_response_time, max_response_time, error_count, success_count, duration_le_5ms, duration_le_25ms, duration_le_2500ms
     FROM metrics_hourly ORDER BY hour_start, endpoint`,
  );
  return rows as Array<Record<string, unknown>>;
}

describe('RollupWriter', () => {
  const writer = () => new RollupWriter(db.conn);

  it('applies a batch once, however often it is delivered, and adds across flushes', async () => {
    const b1 = batch('p1:1', T0 + 1000, T0 + 6000, [
      { route: '/users/:id', count: 2, durationsS: [0.004, 0.02], inBytes: 0, outBytes: 300 },
      { route: '/orders', method: 'POST', status: 500, count: 1, durationsS: [1.2], inBytes: 50, outBytes: 20 },
    ]);
    const first = await writer().apply([{ streamId: '1-0', batch: b1 }, { streamId: '1-1', batch: b1 }]);
    expect(first.applied.map((a) => a.batch.batchId)).toEqual(['p1:1']);
    expect(first.duplicates).toBe(1);

    const again = await writer().apply([{ streamId: '1-0', batch: b1 }]);
    expect(again.applied).toEqual([]);
    expect(again.duplicates).toBe(1);

    const b2 = batch('p1:2', T0 + 6000, T0 + 11_000, [{ route: '/users/:id', count: 1, durationsS: [0.001], inBytes: 7, outBytes: 150 }]);
    const b3 = batch('p2:1', T0 + HOUR + 1000, T0 + HOUR + 6000, [{ route: '/users/:id', count: 3, durationsS: [0.125, 0.25, 0.375], inBytes: 0, outBytes: 90 }]);
    const second = await writer().apply([{ streamId: '2-0', batch: b2 }, { streamId: '2-1', batch: b3 }]);
    expect(second.applied).toHaveLength(2);

    expect(await hourlyRows()).toEqual([
      {
        service: 'shop', endpoint: '/orders', method: 'POST', protocol: 'http', hour: '2026-11-28T10:00',
        total_requests: 1, total_inbound: 50, total_outbound: 20, duration_sum_ms: 1200, avg_response_time: 1200,
        min_response_time: 1200, max_response_time: 1200, error_count: 1, success_count: 0,
        duration_le_5ms: 0, duration_le_25ms: 0, duration_le_2500ms: 1,
      },
      {
        service: 'shop', endpoint: '/users/:id', method: 'GET', protocol: 'http', hour: '2026-11-28T10:00',
        total_requests: 3, total_inbound: 7, total_outbound: 450, duration_sum_ms: 25, avg_response_time: 8.333,
        min_response_time: 1, max_response_time: 20, error_count: 0, success_count: 3,
        duration_le_5ms: 2, duration_le_25ms: 1, duration_le_2500ms: 0,
      },
      {
        service: 'shop', endpoint: '/users/:id', method: 'GET', protocol: 'http', hour: '2026-11-28T11:00',
        total_requests: 3, total_inbound: 0, total_outbound: 90, duration_sum_ms: 750, avg_response_time: 250,
        min_response_time: 125, max_response_time: 375, error_count: 0, success_count: 3,
        duration_le_5ms: 0, duration_le_25ms: 0, duration_le_2500ms: 0,
      },
    ]);

    const [ledger] = await db.conn.pool.query('SELECT batch_id, stream_entry_id, service, points FROM metrics_batch_ledger ORDER BY batch_id');
    expect(ledger).toEqual([
      { batch_id: 'p1:1', stream_entry_id: '1-0', service: 'shop', points: 6 },
      { batch_id: 'p1:2', stream_entry_id: '2-0', service: 'shop', points: 3 },
      { batch_id: 'p2:1', stream_entry_id: '2-1', service: 'shop', points: 3 },
    ]);
  });

  it('keeps metrics_daily current: totals, exact average, peak hour', async () => {
    const [rows] = await db.conn.pool.query(
      `SELECT service, DATE_FORMAT(date, '%Y-%m-%d') AS date, protocol, total_bandwidth, total_inbound, total_outbound, total_requests,
              error_count, duration_sum_ms, avg_response_time, peak_bandwidth, DATE_FORMAT(peak_hour, '%H:%i') AS peak_hour, unique_users
       FROM metrics_daily`,
    );
    expect(rows).toEqual([
      {
        service: 'shop', date: '2026-11-28', protocol: 'http', total_bandwidth: 617, total_inbound: 57, total_outbound: 560,
        total_requests: 7, error_count: 1, duration_sum_ms: 1975, avg_response_time: 282.143, peak_bandwidth: 527, peak_hour: '10:00', unique_users: 0,
      },
    ]);
  });

  it('runs the original plan\'s verification SQL unchanged', async () => {
    const [latest] = await db.conn.pool.query(`SELECT 
  endpoint,
  method,
  total_requests,
  total_inbound + total_outbound as total_bandwidth,
  avg_response_time,
  hour_start
FROM metrics_hourly
ORDER BY hour_start DESC
LIMIT 10;`);
    expect((latest as unknown[]).length).toBe(3);
    // rows of 2026-11-28 are outside "the last 24 hours" unless the clock says so; the query must run either way
    await db.conn.pool.query(`SELECT 
  endpoint,
  SUM(total_inbound + total_outbound) as total_bandwidth,
  SUM(total_requests) as total_requests
FROM metrics_hourly
WHERE hour_start >= DATE_SUB(NOW(), INTERVAL 24 HOUR)
GROUP BY endpoint
ORDER BY total_bandwidth DESC
LIMIT 10;`);
  });
});
