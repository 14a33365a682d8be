import { WireFormatError, decodeBatch, encodeBatch, encodeBatchStepwise, type HistogramMetric, type MetricBatch } from '@otel-bandwidth/core';

function sampleBatch(): MetricBatch {
  // one object per attribute set, shared by the metrics of a series, as the producer does
  const usersRoute = { 'http.request.method': 'GET', 'http.route': '/users/:id', 'http.response.status_code': 200 };
  return {
    batchId: 'host-1-abcd:7',
    startTimeMs: 1_700_000_000_000,
    endTimeMs: 1_700_000_005_000,
    resource: { 'service.name': 'shop', 'service.instance.id': 'i-1' },
    metrics: [
      {
        name: 'http.server.request.duration',
        unit: 's',
        scope: '@otel-bandwidth/instrumentation',
        type: 'histogram',
        temporality: 'delta',
        boundaries: [0.005, 0.01],
        points: [
          {
            attributes: usersRoute,
            startTimeMs: 1_700_000_000_000,
            endTimeMs: 1_700_000_005_000,
            count: 3,
            sum: 0.012,
            min: 0.001,
            max: 0.008,
            bucketCounts: [1, 2, 0],
          },
          {
            attributes: { 'http.request.method': 'POST', 'http.route': '/orders', 'http.response.status_code': 500 },
            startTimeMs: 1_699_999_999_000,
            endTimeMs: 1_700_000_005_000,
            count: 1,
            sum: 0.2,
            bucketCounts: [0, 0, 1],
          },
        ],
      },
      {
        name: 'requests',
        unit: '1',
        type: 'sum',
        temporality: 'delta',
        monotonic: true,
        points: [
          {
            attributes: usersRoute,
            startTimeMs: 1_700_000_000_000,
            endTimeMs: 1_700_000_005_000,
            value: 3,
          },
        ],
      },
      { name: 'queue', unit: '1', type: 'gauge', points: [{ attributes: {}, startTimeMs: 1_700_000_000_000, endTimeMs: 1_700_000_005_000, value: 4 }] },
    ],
    users: [{ id: 'u-1', requests: 2, inboundBytes: 10, outboundBytes: 300 }],
  };
}

describe('wire format', () => {
  it('round-trips a batch exactly', () => {
    const batch = sampleBatch();
    const fields = encodeBatch(batch);
    expect(fields.v).toBe('1');
    expect(fields.id).toBe('host-1-abcd:7');
    expect(fields.enc).toBe('json');
    expect(fields.n).toBe('4');
    expect(decodeBatch(fields)).toEqual(batch);
  });

  it('lists each attribute set once and omits point times equal to the batch times', () => {
    const body = JSON.parse(encodeBatch(sampleBatch()).body as string);
    expect(body.attrs).toHaveLength(3);
    expect(body.metrics[0].points[0].s).toBeUndefined();
    expect(body.metrics[0].points[1].s).toBe(1_699_999_999_000);
    expect(body.metrics[1].points[0].a).toBe(0);
  });

  it('writes the body as JSON.stringify writes the whole object, and stepwise yields once a metric for the same fields', () => {
    const batch = sampleBatch();
    const fields = encodeBatch(batch);
    // the body text, byte for byte, is what JSON.stringify makes of the parsed body (same key order)
    expect(fields.body).toBe(JSON.stringify(JSON.parse(fields.body as string)));
    expect(fields.body?.slice(0, 81)).toBe('{"start":1700000000000,"end":1700000005000,"resource":{"service.name":"shop","ser');
    expect(fields.body?.slice(-69)).toBe('"type":"gauge","points":[{"a":2,"v":4}]}],"users":[["u-1",2,10,300]]}');
    const steps = encodeBatchStepwise(batch);
    let yields = 0;
    let step = steps.next();
    for (; step.done !== true; step = steps.next()) yields++;
    expect(yields).toBe(3);
    expect({ ...step.value, body: step.value.body.toString('utf8') }).toEqual(fields);
    expect(step.value.body.toString('utf8')).toBe(fields.body);
  });

  it('writes awkward numbers and strings as JSON.stringify of the whole body does', () => {
    const at = (route: string) => ({ 'http.route': route, 'http.response.status_code': 200, ok: true });
    const attributes = [at('/a'), at('/ünïcødé/"quoted"\\back\nline\u0001'), at('/lone\ud800surrogate'), at('/😀')];
    const values = [0, -0, 1, 9, 10, 99, 100, 2147483647, -2147483648, 2147483648, -2147483649, 2 ** 53, 2 ** 53 + 2, 1e21, 1.5e-7, -0.001, 0.1 + 0.2, 123.456, Number.MAX_VALUE, Number.MIN_VALUE];
    const batch: MetricBatch = {
      batchId: 'x:1',
      startTimeMs: 1_700_000_000_000,
      endTimeMs: 1_700_000_005_000,
      resource: { 'service.name': 'sérvice "x"', 'k8s.pod.uid': 'a\tb' },
      metrics: [
        {
          name: 'h',
          unit: 's',
          description: 'a "described" metric\n',
          scope: 'scöpe',
          type: 'histogram',
          temporality: 'delta',
          boundaries: [0.005, 1, 2.5, 1e21],
          points: values.map((v, i) => ({
            attributes: attributes[i % attributes.length]!,
            startTimeMs: i % 3 === 0 ? 1_699_999_999_999 : 1_700_000_000_000,
            endTimeMs: i % 5 === 0 ? 1_700_000_005_001 : 1_700_000_005_000,
            count: i,
            sum: v,
            ...(i % 2 === 0 ? { min: v, max: -v } : {}),
            bucketCounts: [v, i, 0, 2147483648, -3],
          })),
        },
        { name: 's', unit: 'By', type: 'sum', temporality: 'cumulative', monotonic: false, points: values.map((v, i) => ({ attributes: attributes[(i + 1) % 4]!, startTimeMs: 1_700_000_000_000, endTimeMs: 1_700_000_005_000 + (i % 2), value: v })) },
        { name: 'g', unit: '', type: 'gauge', points: [{ attributes: attributes[0]!, startTimeMs: 1_700_000_000_000, endTimeMs: 1_700_000_005_000, value: -1.25 }] },
      ],
      users: [{ id: 'ü"1', requests: 1, inboundBytes: 0, outboundBytes: 2 ** 40 }],
    };
    // the body as JSON.stringify writes the object it describes (the encoder's former way): the
    // attribute sets in the order points first use them
    const sorted = [...new Set(batch.metrics.flatMap((m) => m.points.map((p) => p.attributes)))];
    const expected = JSON.stringify({
      start: batch.startTimeMs,
      end: batch.endTimeMs,
      resource: batch.resource,
      attrs: sorted,
      metrics: batch.metrics.map((m) => ({
        name: m.name,
        unit: m.unit,
        type: m.type,
        points: m.points.map((p) => {
          const o: Record<string, unknown> = { a: sorted.indexOf(p.attributes) };
          if ('count' in p) Object.assign(o, { c: p.count, S: p.sum, b: p.bucketCounts });
          else o.v = p.value;
          if (p.startTimeMs !== batch.startTimeMs) o.s = p.startTimeMs;
          if (p.endTimeMs !== batch.endTimeMs) o.e = p.endTimeMs;
          if ('count' in p && p.min !== undefined) o.m = p.min;
          if ('count' in p && p.max !== undefined) o.M = p.max;
          return o;
        }),
        ...(m.description ? { desc: m.description } : {}),
        ...(m.scope ? { scope: m.scope } : {}),
        ...(m.type === 'histogram' ? { temporality: m.temporality, boundaries: m.boundaries } : {}),
        ...(m.type === 'sum' ? { temporality: m.temporality, monotonic: m.monotonic } : {}),
      })),
      users: batch.users!.map((u) => [u.id, u.requests, u.inboundBytes, u.outboundBytes]),
    });
    const fields = encodeBatch(batch);
    expect(fields.body).toBe(expected);
    expect(fields.n).toBe(String(values.length * 2 + 1));
    // -0 as 0, non-finite as null, 2^31 and past it, exponents, escapes, surrogates: as JSON.stringify
    expect(fields.body).toContain('"S":0,');
    expect(fields.body).toContain('"S":1e+21,');
    expect(fields.body).toContain('"b":[2147483648,');
    expect(fields.body).toContain('\\ud800');
  });

  it('writes a non-finite number as null, which the reader rejects by name', () => {
    const batch = sampleBatch();
    (batch.metrics[0] as HistogramMetric).points[0]!.sum = Number.NaN;
    const fields = encodeBatch(batch);
    expect(fields.body).toContain('"S":null');
    expect(() => decodeBatch(fields)).toThrow('body.metrics[0].points[0].S: expected a finite number');
  });

  it('round-trips the largest entry of a 2,000-series interval', () => {
    const attrs = (i: number) => series[i]!;
    const series = Array.from({ length: 2000 }, (_, i) => ({
      'http.request.method': 'GET',
      'http.route': `/api/resource-${i}/items/:id`,
      'http.response.status_code': 200,
      'url.scheme': 'http',
      'network.protocol.version': '1.1',
    }));
    const histogram = (name: string, unit: string, boundaries: number[]) => ({
      name,
      unit,
      type: 'histogram' as const,
      temporality: 'delta' as const,
      boundaries,
      points: Array.from({ length: 2000 }, (_, i) => ({
        attributes: attrs(i),
        startTimeMs: 1,
        endTimeMs: 2,
        count: 1000 + i,
        sum: 12.5 + i,
        min: 0.001,
        max: 1.5,
        bucketCounts: Array.from({ length: boundaries.length + 1 }, (_, b) => (b === 3 ? 1000 + i : 0)),
      })),
    });
    const batch: MetricBatch = {
      batchId: 'x:1',
      startTimeMs: 1,
      endTimeMs: 2,
      resource: { 'service.name': 'big' },
      metrics: [
        histogram('http.server.request.duration', 's', [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10]),
        histogram('http.server.request.body.size', 'By', []),
        histogram('http.server.response.body.size', 'By', []),
      ],
    };
    const fields = encodeBatch(batch);
    expect(fields.n).toBe('6000');
    expect(decodeBatch(fields)).toEqual(batch);
  });

  it.each([
    [{}, 'missing field "v" (format version)'],
    [{ v: '2', id: 'a', enc: 'json', body: '{}' }, 'unsupported format version "2" (this reader understands 1)'],
    [{ v: '1', enc: 'json', body: '{}' }, 'missing field "id" (batch id)'],
    [{ v: '1', id: 'a', enc: 'gzip', body: '{}' }, 'unsupported body encoding "gzip"'],
    [{ v: '1', id: 'a', enc: 'json', body: '{nope' }, 'body is not valid JSON'],
    [{ v: '1', id: 'a', enc: 'json', body: '{"start":1,"end":2,"resource":{},"attrs":[],"metrics":[{"name":"m","type":"histogram","temporality":"delta","boundaries":[1],"points":[{"a":0,"c":1,"S":1,"b":[1,0]}]}]}' }, 'body.metrics[0].points[0].a: attribute index 0 out of range'],
    [{ v: '1', id: 'a', enc: 'json', body: '{"start":1,"end":2,"resource":{},"attrs":[{}],"metrics":[{"name":"m","type":"histogram","temporality":"delta","boundaries":[1],"points":[{"a":0,"c":1,"S":1,"b":[1]}]}]}' }, 'body.metrics[0].points[0]: 1 bucket counts for 1 boundaries'],
    [{ v: '1', id: 'a', enc: 'json', body: '{"start":1,"end":2,"resource":{},"attrs":[{}],"metrics":[{"name":"m","type":"histogram","temporality":"delta","boundaries":[],"points":[{"a":0,"c":-1,"S":1,"b":[1]}]}]}' }, 'body.metrics[0].points[0].c: expected a non-negative integer up to 2^53 - 1'],
    [{ v: '1', id: 'a', enc: 'json', n: '3', body: '{"start":1,"end":2,"resource":{},"attrs":[],"metrics":[]}' }, 'field "n" says 3 points, body has 0'],
  ])('rejects %j with a precise reason', (fields, reason) => {
    expect(() => decodeBatch(fields as Record<string, string>)).toThrow(WireFormatError);
    expect(() => decodeBatch(fields as Record<string, string>)).toThrow(reason);
  });
});
