/**
 * Pure conversion from OpenTelemetry's collection to the wire format's batch: what is carried,
 * what is left out, and that an attribute set is converted once however often it is exported.
 */
import { ValueType, type Attributes } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { AggregationTemporality, DataPointType, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { resourceMetricsToBatch } from '@otel-bandwidth/exporter';

const START: [number, number] = [1_700_000_000, 0];
const END: [number, number] = [1_700_000_005, 250_000_000];
const NO_BOUNDARIES: number[] = [];

function collection(routeAttributes: Attributes): ResourceMetrics {
  const other = { 'http.route': '/empty' };
  return {
    resource: resourceFromAttributes({ 'service.name': 'svc', 'host.tags': ['a', 'b'] }),
    scopeMetrics: [
      {
        scope: { name: 'scope-a' },
        metrics: [
          {
            descriptor: { name: 'size', unit: 'By', description: 'Sizes.', valueType: ValueType.DOUBLE },
            aggregationTemporality: AggregationTemporality.DELTA,
            dataPointType: DataPointType.HISTOGRAM,
            dataPoints: [
              { startTime: START, endTime: END, attributes: routeAttributes, value: { count: 2, sum: 300, min: 100, max: 200, buckets: { boundaries: NO_BOUNDARIES, counts: [2] } } },
              // an empty delta point is left out
              { startTime: START, endTime: END, attributes: other, value: { count: 0, sum: 0, buckets: { boundaries: NO_BOUNDARIES, counts: [0] } } },
            ],
          },
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
