import { MessageChannel, type MessagePort } from 'node:worker_threads';
import type { Attributes } from '@otel-bandwidth/core';
import { drainPacked, unpackSeries, type PackedTablesSnapshot } from '../src/packed-snapshot';
import { TablesDrain } from '../src/series-snapshot';
import { type DrainedSeries, RECORD_NUMBERS, SERIES_FIELD, SeriesTable, seriesAttributes } from '../src/series-table';

const id = (route: string, status = 200, errorType?: string) => seriesAttributes({ method: 'GET', route, status, scheme: 'http', protocolVersion: '1.1', errorType });

function fill(table: SeriesTable): void {
  table.add('/a', 1, id('/a')).record(2, 10, 100, 110, 200);
  table.add('/a', 1, id('/a')).record(30, 0, 5, 60, 90);
  table.add('/b', 2, id('/b', 503, '503')).record(7_000, 1_048_576, 0, 1_048_700, 150);
  table.add('/idle', 1, id('/idle'));
}

/** Every number of every drained series, by route: what a collection reads (the scalars in SERIES_FIELD's order, then the buckets). */
function readings(series: DrainedSeries): Array<[unknown, number[]]> {
  const out: Array<[unknown, number[]]> = [];
  for (let i = 0; i < series.length; i++) {
    out.push([series.attributes[i]?.['http.route'], [...Object.values(SERIES_FIELD).map((field) => series.read(i, field)), ...series.durationBuckets(i)]]);
  }
  return out;
}

/** Sends a message through a real MessageChannel, as the preload sends a collection (nothing transferred), and returns what arrives. */
function roundTrip<T>(message: T): Promise<T> {
  const { port1, port2 } = new MessageChannel();
  return new Promise<T>((resolve) => {
    (port2 as MessagePort).once('message', (received: T) => {
      port1.close();
      resolve(received);
    });
    port1.postMessage(message);
  });
}

describe('packed snapshot', () => {
  it('unpacks to exactly what the in-thread drain gives, series for series', () => {
    const plain = new SeriesTable(10);
    const packed = new SeriesTable(10);
    fill(plain);
    fill(packed);
    const expected = new TablesDrain(plain).drain().server;
    const pack = drainPacked(packed);
    expect(pack.attributes).toHaveLength(2); // the idle series is not drained
    const unpacked = unpackSeries(pack, new Map());
    expect(unpacked.attributes).toEqual(expected.attributes);
    expect(readings(unpacked)).toEqual(readings(expected));
    expect(readings(expected)).toEqual([
      ['/a', [2, 32, 2, 30, 10, 0, 10, 105, 5, 100, 170, 290, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]],
      ['/b', [1, 7_000, 7_000, 7_000, 1_048_576, 1_048_576, 1_048_576, 0, 0, 0, 1_048_700, 150, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]],
    ]);
    expect(expected.attributes[1]).toEqual({
      'http.request.method': 'GET',
      'http.route': '/b',
      'url.scheme': 'http',
      'network.protocol.version': '1.1',
      'http.response.status_code': 503,
      'error.type': '503',
    });
    // drained: the next pack is empty
    expect(drainPacked(packed).attributes).toEqual([]);
  });

  it('copies the numbers to the other side, leaving the sending buffer attached, and the numbers arrive whole', async () => {
    const table = new SeriesTable(10);
    fill(table);
    const drain = new TablesDrain(table, new SeriesTable(10));
    const snapshot = drain.drainPacked();
    const sent = snapshot.server.numbers;
    const received = await roundTrip<PackedTablesSnapshot>(snapshot);
    // copied, not transferred: a detached buffer would invalidate V8's ArrayBufferDetaching
    // protector in the app's thread (packed-snapshot.ts)
    // room for the table's three series (two drained, /idle had no requests): 768 bytes
    expect(sent.byteLength).toBe(3 * RECORD_NUMBERS * Float64Array.BYTES_PER_ELEMENT);
    expect(received.server.numbers).not.toBe(sent);
    // read where they arrived: the numbers are the received array itself
    const series = unpackSeries(received.server, new Map());
    expect(series.numbers).toBe(received.server.numbers);
    expect(readings(series).map(([route, n]) => [route, n[0], n[1], n[7]])).toEqual([
      ['/a', 2, 32, 105],
      ['/b', 1, 7_000, 0],
    ]);
    expect(series.durationBuckets(0)).toEqual([0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    expect(unpackSeries(received.client, new Map()).length).toBe(0);
    expect(received.endMs).toBeGreaterThanOrEqual(received.startMs);
  });

  it('parses each series attributes once and reuses them across collections', () => {
    const table = new SeriesTable(10);
    const parsed = new Map<string, Attributes>();
    table.add('/a', 1, id('/a')).record(1, 0, 1, 0, 1);
    const first = unpackSeries(drainPacked(table), parsed);
    table.add('/a', 1, id('/a')).record(1, 0, 1, 0, 1);
    const second = unpackSeries(drainPacked(table), parsed);
    expect(parsed.size).toBe(1);
    expect(second.attributes[0]).toBe(first.attributes[0]);
  });
});
