/**
 * Pure conversion from OpenTelemetry's collection to the wire format's batch: what is carried,
 * what is left out, and that an attribute set is converted once however often it is exported.
 */
import { ValueType, type Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type DataPoint, type Histogram, type HistogramMetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { decodeBatch, encodeBatch, encodeBatchOfStepwise, type EncodedEntry, type StreamFields } from '@otel-bandwidth/core';
import { OTEL_POINTS, resourceMetricsToBatch, resourceMetricsView } from '@otel-bandwidth/exporter';

const START: [number, number] = [1_700_000_000, 0];
const END: [number, number] = [1_700_000_005, 250_000_000];
const NO_BOUNDARIES: number[] = [];

function deltaHistogram(name: string, unit: string, description: string, dataPoints: Array<DataPoint<Histogram>>): HistogramMetricData {
  return {
    descriptor: { name, unit, description, valueType: ValueType.DOUBLE },
    aggregationTemporality: AggregationTemporality.DELTA,
    dataPointType: DataPointType.HISTOGRAM,
    dataPoints,
  };
}

function collection(routeAttributes: Attributes): ResourceMetrics {
  const other = { 'http.route': '/empty' };
  return {
    resource: resourceFromAttributes({ 'service.name': 'svc', 'host.tags': ['a', 'b'] }),
    scopeMetrics: [
      {
        scope: { name: 'scope-a' },
        metrics: [
          deltaHistogram('size', 'By', 'Sizes.', [
            { startTime: START, endTime: END, attributes: routeAttributes, value: { count: 2, sum: 300, min: 100, max: 200, buckets: { boundaries: NO_BOUNDARIES, counts: [2] } } },
            // an empty delta point is left out
            { startTime: START, endTime: END, attributes: other, value: { count: 0, sum: 0, buckets: { boundaries: NO_BOUNDARIES, counts: [0] } } },
          ]),
          {
            descriptor: { name: 'calls', unit: '1', description: '', valueType: ValueType.INT },
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPointType: DataPointType.SUM,
            isMonotonic: true,
            dataPoints: [
              { startTime: START, endTime: END, attributes: routeAttributes, value: 7 },
              { startTime: START, endTime: END, attributes: other, value: 0 },
            ],
          },
        ],
      },
    ],
  };
}

describe('resourceMetricsToBatch', () => {
  it('carries non-empty points with primitive attributes, times in whole ms', () => {
    const attributes = { 'http.route': '/items/:id', 'http.response.status_code': 200, ok: true, tags: ['x', 'y'], gone: undefined };
    expect(resourceMetricsToBatch(collection(attributes))).toEqual({
      startTimeMs: 1_700_000_000_000,
      endTimeMs: 1_700_000_005_250,
      resource: expect.objectContaining({ 'service.name': 'svc', 'host.tags': '["a","b"]' }),
      metrics: [
        {
          name: 'size',
          unit: 'By',
          description: 'Sizes.',
          type: 'histogram',
          temporality: 'delta',
          boundaries: [],
          scope: 'scope-a',
          points: [
            {
              attributes: { 'http.route': '/items/:id', 'http.response.status_code': 200, ok: true, tags: '["x","y"]' },
              startTimeMs: 1_700_000_000_000,
              endTimeMs: 1_700_000_005_250,
              count: 2,
              sum: 300,
              min: 100,
              max: 200,
              bucketCounts: [2],
            },
          ],
        },
        {
          name: 'calls',
          unit: '1',
          type: 'sum',
          temporality: 'delta',
          monotonic: true,
          scope: 'scope-a',
          points: [
            {
              attributes: { 'http.route': '/items/:id', 'http.response.status_code': 200, ok: true, tags: '["x","y"]' },
              startTimeMs: 1_700_000_000_000,
              endTimeMs: 1_700_000_005_250,
              value: 7,
            },
          ],
        },
      ],
    });
  });

  it('converts an attribute set once, across metrics and across exports', () => {
    const attributes = { 'http.route': '/a' };
    const first = resourceMetricsToBatch(collection(attributes));
    const second = resourceMetricsToBatch(collection(attributes));
    const wire = (b: typeof first, metric: number) => b?.metrics[metric]?.points[0]?.attributes;
    expect(wire(first, 0)).toEqual({ 'http.route': '/a' });
    expect(wire(first, 1)).toBe(wire(first, 0));
    expect(wire(second, 0)).toBe(wire(first, 0));
    // an equal set held in another object is its own entry, equal in value
    const other = resourceMetricsToBatch(collection({ 'http.route': '/a' }));
    expect(wire(other, 0)).not.toBe(wire(first, 0));
    expect(wire(other, 0)).toEqual(wire(first, 0));
  });

  it('returns undefined when every point is empty', () => {
    const rm = collection({ 'http.route': '/a' });
    for (const m of rm.scopeMetrics[0]?.metrics ?? []) m.dataPoints.splice(0, 1);
    expect(resourceMetricsToBatch(rm)).toBeUndefined();
  });
});

/** Every step of an encoding, run at once, its body as text (as encodeBatch gives it). */
function encodedInPlace(rm: ResourceMetrics, batchId: string): StreamFields {
  const view = resourceMetricsView(rm);
  if (view === undefined) throw new Error('nothing to encode');
  view.users = [{ id: 'u-1', requests: 3, inboundBytes: 10, outboundBytes: 2_000 }];
  const steps = encodeBatchOfStepwise({ ...view, batchId }, OTEL_POINTS);
  let step: IteratorResult<void, EncodedEntry>;
  do step = steps.next();
  while (step.done !== true);
  return { ...step.value, body: step.value.body.toString('utf8') };
}

describe('resourceMetricsView, encoded in place', () => {
  it('gives the entry the converted batch gives, byte for byte', () => {
    const rm = collection({ 'http.route': '/items/:id', 'http.response.status_code': 200 });
    const metrics = rm.scopeMetrics[0]?.metrics ?? [];
    // a second scope; a histogram whose points have two boundary lists, awkward numbers, a
    // min and max that are not finite (left out), and points with times of their own; a gauge
    const a = { 'http.route': '/a' };
    const b = { 'http.route': '/b', note: 'quote " and \\ and é' };
    rm.scopeMetrics.push({
      scope: { name: 'scope-b' },
      metrics: [
        deltaHistogram('duration', 's', 'Durations.', [
          { startTime: START, endTime: END, attributes: a, value: { count: 3, sum: 0.1 + 0.2, min: 1e-7, max: 12.5, buckets: { boundaries: [0.005, 0.1], counts: [1, 1, 1] } } },
          { startTime: [1_699_999_999, 999_999_999], endTime: END, attributes: b, value: { count: 1, sum: 5e-324, min: Number.NaN, max: Number.POSITIVE_INFINITY, buckets: { boundaries: [1], counts: [1, 0] } } },
          { startTime: START, endTime: END, attributes: b, value: { count: 2, sum: 1.5e300, buckets: { boundaries: [0.005, 0.1], counts: [0, 0, 2] } } },
        ]),
        {
          descriptor: { name: 'heap', unit: 'By', description: '', valueType: ValueType.INT },
          aggregationTemporality: AggregationTemporality.CUMULATIVE,
          dataPointType: DataPointType.GAUGE,
          dataPoints: [{ startTime: START, endTime: [1_700_000_006, 500_000], attributes: a, value: -0.25 }],
        },
      ],
    });
    expect(metrics).toHaveLength(2);
    const converted = resourceMetricsToBatch(rm);
    if (converted === undefined) throw new Error('nothing converted');
    converted.users = [{ id: 'u-1', requests: 3, inboundBytes: 10, outboundBytes: 2_000 }];
    const inPlace = encodedInPlace(rm, 'svc:7');
    expect(inPlace).toEqual(encodeBatch({ ...converted, batchId: 'svc:7' }));
    // and it reads back as the converted batch
    expect(decodeBatch(inPlace)).toEqual({ ...converted, batchId: 'svc:7' });
    expect(decodeBatch(inPlace).metrics.map((m) => `${m.name} ${m.points.length}`)).toEqual(['size 1', 'calls 1', 'duration 2', 'duration 1', 'heap 1']);
  });
});
