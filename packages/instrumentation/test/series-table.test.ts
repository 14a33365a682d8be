import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { TablesDrain } from '../src/series-snapshot';
import { SERIES_FIELD, SeriesTable, durationBucket, seriesAttributes } from '../src/series-table';

const id = (route: string, status = 200) => seriesAttributes({ method: 'GET', route, status, scheme: 'http', protocolVersion: '1.1', errorType: undefined });

describe('SeriesTable', () => {
  it('buckets durations by the bounds, 100 µs to 10 s (upper bound inclusive)', () => {
    expect([0, 0.1, 0.1001, 0.3, 1, 2, 5, 5.0001, 10, 99, 100, 10_000, 10_001].map(durationBucket)).toEqual([0, 0, 1, 2, 3, 4, 5, 6, 6, 10, 10, 18, 19]);
  });

  it('sums, tracks min and max, and resets on drain', () => {
    const t = new SeriesTable(10);
    t.add('/a', 1, id('/a')).record(2, 10, 100, 110, 200);
    t.add('/a', 1, id('/a')).record(30, 0, 5, 60, 90);
    // as the collection reads them: the drained numbers, in place
    const seen = new TablesDrain(t).drain().server;
    expect(seen.length).toBe(1);
    expect(Object.fromEntries(Object.entries(SERIES_FIELD).map(([name, field]) => [name, seen.read(0, field)]))).toEqual({
      count: 2,
      durationSumMs: 32,
      durationMinMs: 2,
      durationMaxMs: 30,
      requestBytes: 10,
      requestBytesMin: 0,
      requestBytesMax: 10,
      responseBytes: 105,
      responseBytesMin: 5,
      responseBytesMax: 100,
      requestWireBytes: 170,
      responseWireBytes: 290,
    });
    expect(seen.durationBuckets(0)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(seen.attributes).toEqual([id('/a')]);
    const again: unknown[] = [];
    t.drain((r) => again.push(r));
    expect(again).toEqual([]);
  });

  it("keeps each record's numbers apart in the blocks they share, and hands a freed record's place to a new series afresh", () => {
    const t = new SeriesTable(200);
    // 130 series: three blocks of 64 records
    for (let i = 0; i < 130; i++) t.add(`/r${i}`, 1, id(`/r${i}`)).record(i, i, 2 * i, 3 * i, 4 * i);
    const seen = new Map<unknown, number[]>();
    t.drain((r) => {
      const n = r.readings();
      seen.set(r.attributes['http.route'], [n.read(0, SERIES_FIELD.count), n.read(0, SERIES_FIELD.durationSumMs), n.read(0, SERIES_FIELD.durationMinMs), n.read(0, SERIES_FIELD.requestBytes), n.read(0, SERIES_FIELD.responseBytes), n.read(0, SERIES_FIELD.requestWireBytes), n.read(0, SERIES_FIELD.responseWireBytes)]);
    });
    expect(seen.size).toBe(130);
    expect(seen.get('/r0')).toEqual([1, 0, 0, 0, 0, 0, 0]);
    expect(seen.get('/r63')).toEqual([1, 63, 63, 63, 126, 189, 252]);
    expect(seen.get('/r64')).toEqual([1, 64, 64, 64, 128, 192, 256]);
    expect(seen.get('/r129')).toEqual([1, 129, 129, 129, 258, 387, 516]);
    // twelve idle collections free all 130; a new series takes a freed place, emptied
    for (let i = 0; i < 12; i++) t.drain(() => undefined);
    expect(t.size).toBe(0);
    const fresh = t.add('/new', 1, id('/new'));
    const f = fresh.readings();
    expect([f.read(0, SERIES_FIELD.count), f.read(0, SERIES_FIELD.durationSumMs), f.read(0, SERIES_FIELD.durationMinMs), f.read(0, SERIES_FIELD.durationMaxMs), f.read(0, SERIES_FIELD.requestBytesMin), f.read(0, SERIES_FIELD.responseBytesMin)]).toEqual([
      0,
      0,
      Number.POSITIVE_INFINITY,
      0,
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
    ]);
    expect(f.durationBuckets(0)).toEqual(new Array(20).fill(0));
    fresh.record(7, 1, 2, 3, 4);
    const after: number[][] = [];
    t.drain((r) => {
      const n = r.readings();
      after.push([n.read(0, SERIES_FIELD.count), n.read(0, SERIES_FIELD.durationSumMs), n.read(0, SERIES_FIELD.requestBytes), n.read(0, SERIES_FIELD.responseWireBytes)]);
    });
    expect(after).toEqual([[1, 7, 1, 4]]);
  });

  it('folds series past the limit into one overflow series per method and status', () => {
    const t = new SeriesTable(2);
    t.add('/one', 1, id('/one')).record(1, 0, 1, 0, 1);
    t.add('/two', 1, id('/two')).record(1, 0, 1, 0, 1);
    t.add('/three', 1, id('/three')).record(1, 0, 1, 0, 1);
    t.add('/four', 1, id('/four')).record(1, 0, 1, 0, 1);
    t.add('/five', 2, id('/five', 500)).record(1, 0, 1, 0, 1);
    const routes: Array<[unknown, unknown, number]> = [];
    t.drain((r) => routes.push([r.attributes['http.route'], r.attributes['http.response.status_code'], r.count]));
    expect(routes).toEqual([
      ['/one', 200, 1],
      ['/two', 200, 1],
      ['(overflow)', 200, 2],
      ['(overflow)', 500, 1],
    ]);
    expect(t.overflowedSeries).toBe(3);
  });

  it('finds the overflow record of a folded series by the plain lookup until the next drain', () => {
    const t = new SeriesTable(1);
    t.add('/one', 1, id('/one')).record(1, 0, 1, 0, 1);
    const overflow = t.add('/two', 1, id('/two'));
    expect(t.get('/two', 1)).toBe(overflow);
    expect(t.get('/two', 2)).toBeUndefined();
    t.get('/two', 1)?.record(1, 0, 1, 0, 1);
    overflow.record(1, 0, 1, 0, 1);
    expect(t.overflowedSeries).toBe(1);
    expect(t.size).toBe(2);
    const seen: Array<[unknown, number]> = [];
    t.drain((r) => seen.push([r.attributes['http.route'], r.count]));
    expect(seen).toEqual([
      ['/one', 1],
      ['(overflow)', 2],
    ]);
    expect(t.get('/two', 1)).toBeUndefined();
  });

  it('forgets an evicted series, also the one its route found last', () => {
    const t = new SeriesTable(10);
    const ok = t.add('/a', 1, id('/a'));
    const failed = t.add('/a', 2, id('/a', 500));
    expect(t.get('/a', 1)).toBe(ok);
    expect(t.get('/a', 2)).toBe(failed);
    failed.record(1, 0, 1, 0, 1);
    // /a 200 idle for 12 collections is evicted; /a 500, the last found, stays while it is used
    for (let i = 0; i < 12; i++) {
      expect(t.get('/a', 2)).toBe(failed);
      failed.record(1, 0, 1, 0, 1);
      t.drain(() => undefined);
    }
    expect(t.get('/a', 1)).toBeUndefined();
    expect(t.get('/a', 2)).toBe(failed);
    expect(t.size).toBe(1);
    for (let i = 0; i < 12; i++) t.drain(() => undefined);
    expect(t.get('/a', 2)).toBeUndefined();
    expect(t.size).toBe(0);
    const fresh = t.add('/a', 2, id('/a', 500));
    expect(fresh).not.toBe(failed);
    expect(t.get('/a', 2)).toBe(fresh);
  });
});

describe("SeriesTable's epoch, to V8", () => {
  // V8 takes a field that has held one value since its object was built for a constant, and code
  // it optimizes depends on that: the first drain's new epoch once threw away the request path's
  // optimized record (node --trace-deopt at a service's first collection). A script of V8's own
  // natives (Node 20's V8: status bit 16, "optimized"), on the built table.
  const script = `
    const { SeriesTable } = require(process.env.SERIES_TABLE);
    const table = new SeriesTable(10);
    function readEpoch(t) { return t.epoch; }
    const optimized = () => (%GetOptimizationStatus(readEpoch) & 16) !== 0;
    %PrepareFunctionForOptimization(readEpoch);
    readEpoch(table);
    readEpoch(table);
    %OptimizeFunctionOnNextCall(readEpoch);
    readEpoch(table);
    const before = optimized();
    table.drain(() => {});
    console.log(JSON.stringify({ before, after: optimized() }));
  `;

  it('does not deoptimize code that reads it when a drain changes it', () => {
    const run = spawnSync(process.execPath, ['--allow-natives-syntax', '-e', script], {
      encoding: 'utf8',
      env: { ...process.env, SERIES_TABLE: path.join(__dirname, '..', 'dist', 'series-table.js') },
      timeout: 30_000,
    });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({ before: true, after: true });
  });
});
