/**
 * The stream's wire format: the one module that encodes and decodes the entries the exporter
 * XADDs and the aggregator reads. docs/wire-format.md describes it for other implementations.
 *
 * An entry is a flat list of Redis stream fields:
 *   v     format version ("1")
 *   id    batch id, unique per batch: `${instanceId}:${sequence}`
 *   enc   body encoding ("json")
 *   n     number of data points in the body (a cheap sanity check)
 *   body  the encoded batch
 *
 * The body is JSON. Attribute sets are listed once in `attrs` and points refer to them by index,
 * and a point's start/end times are left out when they equal the batch's, which keeps a 2,000-series
 * entry small without a binary codec.
 */

import { JsonBytes } from './json-bytes';

export const WIRE_FORMAT_VERSION = 1;
export const WIRE_ENCODING = 'json';

export type AttributeValue = string | number | boolean;
export type Attributes = Record<string, AttributeValue>;

export type Temporality = 'delta' | 'cumulative';

export interface HistogramPoint {
  attributes: Attributes;
  startTimeMs: number;
  endTimeMs: number;
  count: number;
  sum: number;
  min?: number;
  max?: number;
  /** counts per bucket; length is boundaries.length + 1 (the last bucket is +Inf) */
  bucketCounts: number[];
}

export interface SumPoint {
  attributes: Attributes;
  startTimeMs: number;
  endTimeMs: number;
  value: number;
}

interface MetricBase {
  name: string;
  unit: string;
  description?: string;
  /** the instrumentation scope that produced it, when known */
  scope?: string;
}

export interface HistogramMetric extends MetricBase {
  type: 'histogram';
  temporality: Temporality;
  boundaries: number[];
  points: HistogramPoint[];
}

export interface SumMetric extends MetricBase {
  type: 'sum';
  temporality: Temporality;
  monotonic: boolean;
  points: SumPoint[];
}

export interface GaugeMetric extends MetricBase {
  type: 'gauge';
  points: SumPoint[];
}

export type Metric = HistogramMetric | SumMetric | GaugeMetric;

/** Per-user usage in one interval. The user id is whatever the service configured. */
export interface UserUsage {
  id: string;
  requests: number;
  inboundBytes: number;
  outboundBytes: number;
}

export interface MetricBatch {
  batchId: string;
  startTimeMs: number;
  endTimeMs: number;
  resource: Attributes;
  metrics: Metric[];
  users?: UserUsage[];
}

export type StreamFields = Record<string, string>;

export class WireFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WireFormatError';
  }
}

// ---------------------------------------------------------------------------------------------
// Encoded body shape (what is inside `body`). Short keys: this is the part repeated per point.
// encodeBatchStepwise writes it as text (a metric's keys: name, unit, type, points, then the
// optional ones; a point's: a, c, S, b or a, v, then the optional ones); decodeBatch reads it back.

interface EncodedHistogramPoint {
  a: number; // index into attrs
  s?: number; // start ms, when not the batch's
  e?: number; // end ms, when not the batch's
  c: number; // count
  S: number; // sum
  m?: number; // min
  M?: number; // max
  b: number[]; // bucket counts
}

interface EncodedValuePoint {
  a: number;
  s?: number;
  e?: number;
  v: number;
}

interface EncodedMetric {
  name: string;
  unit: string;
  desc?: string;
  scope?: string;
  type: 'histogram' | 'sum' | 'gauge';
  temporality?: Temporality;
  monotonic?: boolean;
  boundaries?: number[];
  points: Array<EncodedHistogramPoint | EncodedValuePoint>;
}

interface EncodedBody {
  start: number;
  end: number;
  resource: Attributes;
  attrs: Attributes[];
  metrics: EncodedMetric[];
  users?: Array<[string, number, number, number]>;
}

export function countPoints(batch: MetricBatch): number {
  let n = 0;
  for (const m of batch.metrics) n += m.points.length;
  return n;
}

/** An encoded entry's fields, its body as the UTF-8 bytes of its JSON (what the exporter sends). */
export type EncodedEntry = {
  v: string;
  id: string;
  enc: string;
  n: string;
  body: Buffer;
};

/**
 * An entry's fields, its body as a string (as Redis gives them back to a reader). Attribute sets
 * are taken to be immutable, as OpenTelemetry's are: their JSON is kept per object
 * (attributesJson), so a set changed after one encoding would be written as it was.
 */
export function encodeBatch(batch: MetricBatch): StreamFields {
  const steps = encodeBatchStepwise(batch);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return { ...step.value, body: step.value.body.toString('utf8') };
  }
}

const attributesJsonCache = new WeakMap<Attributes, string>();

/**
 * An attribute set's JSON, made once per object: a set is never changed once made, and a series
 * keeps its set across collections (the instrumentation's records, the exporter's wire
 * attributes), so each is written out once, not at every export.
 */
export function attributesJson(attributes: Attributes): string {
  let json = attributesJsonCache.get(attributes);
  if (json === undefined) {
    json = JSON.stringify(attributes);
    attributesJsonCache.set(attributes, json);
  }
  return json;
}

/** About what a point takes in the body: the writer's first buffer, so that it rarely grows. */
const BYTES_PER_POINT = 96;

/**
 * How the encoder reads a batch's points: the wire format's own objects (MetricBatch), or points
 * another holder keeps in a shape of its own, read where they are (the exporter's OpenTelemetry
 * data: no copy of each point per export). Histogram points are read through `count` to `max`,
 * sum and gauge points through `value`.
 */
export interface PointReader<P> {
  attributes(p: P): Attributes;
  startTimeMs(p: P): number;
  endTimeMs(p: P): number;
  count(p: P): number;
  sum(p: P): number;
  /** counts per bucket; the last bucket is +Inf */
  bucketCounts(p: P): readonly number[];
  min(p: P): number | undefined;
  max(p: P): number | undefined;
  value(p: P): number;
}

type WithPoints<M extends Metric, P> = Omit<M, 'points'> & { points: readonly P[] };
/** A metric whose points are read through a PointReader. */
export type MetricOf<P> = WithPoints<HistogramMetric, P> | WithPoints<SumMetric, P> | WithPoints<GaugeMetric, P>;
/** A batch whose points are read through a PointReader (encodeBatchOfStepwise). */
export interface BatchOf<P> extends Omit<MetricBatch, 'metrics'> {
  metrics: Array<MetricOf<P>>;
}

/** The wire format's own points, read as they are. */
export const WIRE_POINTS: PointReader<HistogramPoint | SumPoint> = {
  attributes: (p) => p.attributes,
  startTimeMs: (p) => p.startTimeMs,
  endTimeMs: (p) => p.endTimeMs,
  count: (p) => (p as HistogramPoint).count,
  sum: (p) => (p as HistogramPoint).sum,
  bucketCounts: (p) => (p as HistogramPoint).bucketCounts,
  min: (p) => (p as HistogramPoint).min,
  max: (p) => (p as HistogramPoint).max,
  value: (p) => (p as SumPoint).value,
};

/**
 * encodeBatch a metric at a time: yields after each metric's points are encoded, and returns the
 * entry with its body as bytes. For an encoder on an event loop that lets other work run between
 * a large batch's metrics (the exporter does: at 2,000 series each of the five takes a few ms).
 *
 * The body is written straight into one buffer (JsonBytes), the same text, byte for byte, as
 * JSON.stringify of the EncodedBody (keys in its order): at 2,000 series, building that object
 * first, its points' objects, each metric's string and their join, then the socket's UTF-8 copy
 * of the whole, was some 3 MB of short-lived allocation an export (bench:exporter).
 */
export function encodeBatchStepwise(batch: MetricBatch): Generator<void, EncodedEntry, void> {
  return encodeBatchOfStepwise(batch, WIRE_POINTS);
}

/** encodeBatchStepwise of a batch whose points `read` reads: the same text for the same numbers. */
export function* encodeBatchOfStepwise<P>(batch: BatchOf<P>, read: PointReader<P>): Generator<void, EncodedEntry, void> {
  // Attribute sets are listed by identity, in the order points first use them: the producer
  // shares one object among a series' points, so this is one Map lookup per point and no
  // per-point key building. Equal sets held in distinct objects are listed twice, which is
  // harmless. Each point's index is kept for the writing pass, which then reads no set again.
  const attrIndex = new Map<Attributes, number>();
  const attrs: Attributes[] = [];
  let points = 0;
  for (const m of batch.metrics) points += m.points.length;
  const pointAttrs = new Int32Array(points);
  let at = 0;
  for (const m of batch.metrics) {
    for (const p of m.points) {
      const a = read.attributes(p);
      let index = attrIndex.get(a);
      if (index === undefined) {
        index = attrs.length;
        attrIndex.set(a, index);
        attrs.push(a);
      }
      pointAttrs[at++] = index;
    }
  }
  const { startTimeMs: bs, endTimeMs: be } = batch;
  const out = new JsonBytes(4096 + points * BYTES_PER_POINT);
  out.ascii('{"start":').number(bs).ascii(',"end":').number(be).ascii(',"resource":').json(JSON.stringify(batch.resource)).ascii(',"attrs":[');
  for (let i = 0; i < attrs.length; i++) {
    if (i > 0) out.comma();
    out.json(attributesJson(attrs[i] as Attributes));
  }
  out.ascii('],"metrics":[');
  let first = true;
  at = 0;
  for (const m of batch.metrics) {
    if (!first) out.comma();
    first = false;
    out.ascii('{"name":').string(m.name).ascii(',"unit":').string(m.unit).ascii(',"type":').string(m.type).ascii(',"points":[');
    if (m.type === 'histogram') {
      for (let i = 0; i < m.points.length; i++) {
        const p = m.points[i] as P;
        if (i > 0) out.comma();
        out.ascii('{"a":').number(pointAttrs[at++] as number);
        out.ascii(',"c":').number(read.count(p)).ascii(',"S":').number(read.sum(p)).ascii(',"b":').numbers(read.bucketCounts(p));
        const s = read.startTimeMs(p);
        if (s !== bs) out.ascii(',"s":').number(s);
        const e = read.endTimeMs(p);
        if (e !== be) out.ascii(',"e":').number(e);
        const min = read.min(p);
        if (min !== undefined) out.ascii(',"m":').number(min);
        const max = read.max(p);
        if (max !== undefined) out.ascii(',"M":').number(max);
        out.byte(0x7d);
      }
    } else {
      for (let i = 0; i < m.points.length; i++) {
        const p = m.points[i] as P;
        if (i > 0) out.comma();
        out.ascii('{"a":').number(pointAttrs[at++] as number).ascii(',"v":').number(read.value(p));
        const s = read.startTimeMs(p);
        if (s !== bs) out.ascii(',"s":').number(s);
        const e = read.endTimeMs(p);
        if (e !== be) out.ascii(',"e":').number(e);
        out.byte(0x7d);
      }
    }
    out.byte(0x5d);
    if (m.description) out.ascii(',"desc":').string(m.description);
    if (m.scope) out.ascii(',"scope":').string(m.scope);
    if (m.type === 'histogram') out.ascii(',"temporality":').string(m.temporality).ascii(',"boundaries":').numbers(m.boundaries);
    else if (m.type === 'sum') out.ascii(',"temporality":').string(m.temporality).ascii(m.monotonic ? ',"monotonic":true' : ',"monotonic":false');
    out.byte(0x7d);
    yield;
  }
  out.byte(0x5d);
  if (batch.users && batch.users.length > 0) {
    const users: EncodedBody['users'] = batch.users.map((u) => [u.id, u.requests, u.inboundBytes, u.outboundBytes]);
    out.ascii(',"users":').json(JSON.stringify(users));
  }
  out.byte(0x7d);
  return {
    v: String(WIRE_FORMAT_VERSION),
    id: batch.batchId,
    enc: WIRE_ENCODING,
    n: String(points),
    body: out.bytes(),
  };
}

/** Turns the flat [k1, v1, k2, v2, ...] array Redis returns for an entry into an object. */
export function fieldsFromArray(raw: readonly string[]): StreamFields {
  const out: StreamFields = {};
  for (let i = 0; i + 1 < raw.length; i += 2) out[raw[i] as string] = raw[i + 1] as string;
  return out;
}

export function fieldsToArray<V extends string | Buffer>(fields: Readonly<Record<string, V>>): Array<string | V> {
  const out: Array<string | V> = [];
  for (const [k, v] of Object.entries(fields)) out.push(k, v);
  return out;
}

/** Decodes and validates an entry. Throws WireFormatError with a precise reason. */
export function decodeBatch(fields: StreamFields): MetricBatch {
  if (fields.v === undefined) throw new WireFormatError('missing field "v" (format version)');
  if (fields.v !== String(WIRE_FORMAT_VERSION)) {
    throw new WireFormatError(`unsupported format version "${fields.v}" (this reader understands ${WIRE_FORMAT_VERSION})`);
  }
  const batchId = fields.id;
  if (!batchId) throw new WireFormatError('missing field "id" (batch id)');
  if (fields.enc !== WIRE_ENCODING) throw new WireFormatError(`unsupported body encoding "${String(fields.enc)}"`);
  if (fields.body === undefined) throw new WireFormatError('missing field "body"');
  let parsed: unknown;
  try {
    parsed = JSON.parse(fields.body);
  } catch (err) {
    throw new WireFormatError(`body is not valid JSON: ${(err as Error).message}`);
  }
  const body = expectObject(parsed, 'body');
  const start = expectNumber(body.start, 'body.start');
  const end = expectNumber(body.end, 'body.end');
  const resource = expectAttributes(body.resource, 'body.resource');
  const attrsRaw = expectArray(body.attrs, 'body.attrs');
  const attrs = attrsRaw.map((a, i) => expectAttributes(a, `body.attrs[${i}]`));
  const attrAt = (idx: unknown, where: string): Attributes => {
    const i = expectNumber(idx, where);
    const a = attrs[i];
    if (a === undefined) throw new WireFormatError(`${where}: attribute index ${i} out of range`);
    return a;
  };
  const metrics: Metric[] = expectArray(body.metrics, 'body.metrics').map((mRaw, mi) => {
    const where = `body.metrics[${mi}]`;
    const m = expectObject(mRaw, where);
    const name = expectString(m.name, `${where}.name`);
    const unit = typeof m.unit === 'string' ? m.unit : '';
    const description = typeof m.desc === 'string' ? m.desc : undefined;
    const scope = typeof m.scope === 'string' ? m.scope : undefined;
    const describe = <T extends Metric>(metric: T): T => {
      if (description !== undefined) metric.description = description;
      if (scope !== undefined) metric.scope = scope;
      return metric;
    };
    const pointsRaw = expectArray(m.points, `${where}.points`);
    const times = (p: Record<string, unknown>, pw: string): { startTimeMs: number; endTimeMs: number } => ({
      startTimeMs: p.s === undefined ? start : expectNumber(p.s, `${pw}.s`),
      endTimeMs: p.e === undefined ? end : expectNumber(p.e, `${pw}.e`),
    });
    if (m.type === 'histogram') {
      const boundaries = expectArray(m.boundaries, `${where}.boundaries`).map((b, bi) => expectNumber(b, `${where}.boundaries[${bi}]`));
      const points: HistogramPoint[] = pointsRaw.map((pRaw, pi) => {
        const pw = `${where}.points[${pi}]`;
        const p = expectObject(pRaw, pw);
        const bucketCounts = expectArray(p.b, `${pw}.b`).map((c, ci) => expectCount(c, `${pw}.b[${ci}]`));
        if (bucketCounts.length !== boundaries.length + 1) {
          throw new WireFormatError(`${pw}: ${bucketCounts.length} bucket counts for ${boundaries.length} boundaries`);
        }
        const point: HistogramPoint = {
          attributes: attrAt(p.a, `${pw}.a`),
          ...times(p, pw),
          count: expectCount(p.c, `${pw}.c`),
          sum: expectNumber(p.S, `${pw}.S`),
          bucketCounts,
        };
        if (p.m !== undefined) point.min = expectNumber(p.m, `${pw}.m`);
        if (p.M !== undefined) point.max = expectNumber(p.M, `${pw}.M`);
        return point;
      });
      return describe<HistogramMetric>({ name, unit, type: 'histogram', temporality: expectTemporality(m.temporality, where), boundaries, points });
    }
    if (m.type === 'sum' || m.type === 'gauge') {
      const points: SumPoint[] = pointsRaw.map((pRaw, pi) => {
        const pw = `${where}.points[${pi}]`;
        const p = expectObject(pRaw, pw);
        return { attributes: attrAt(p.a, `${pw}.a`), ...times(p, pw), value: expectNumber(p.v, `${pw}.v`) };
      });
      return describe<Metric>(
        m.type === 'sum'
          ? { name, unit, type: 'sum', temporality: expectTemporality(m.temporality, where), monotonic: m.monotonic === true, points }
          : { name, unit, type: 'gauge', points },
      );
    }
    throw new WireFormatError(`${where}.type: unknown metric type "${String(m.type)}"`);
  });
  const batch: MetricBatch = { batchId, startTimeMs: start, endTimeMs: end, resource, metrics };
  if (body.users !== undefined) {
    batch.users = expectArray(body.users, 'body.users').map((uRaw, ui) => {
      const u = expectArray(uRaw, `body.users[${ui}]`);
      return {
        id: expectString(u[0], `body.users[${ui}][0]`),
        requests: expectCount(u[1], `body.users[${ui}][1]`),
        inboundBytes: expectCount(u[2], `body.users[${ui}][2]`),
        outboundBytes: expectCount(u[3], `body.users[${ui}][3]`),
      };
    });
  }
  if (fields.n !== undefined && Number(fields.n) !== countPoints(batch)) {
    throw new WireFormatError(`field "n" says ${fields.n} points, body has ${countPoints(batch)}`);
  }
  return batch;
}

/** A stable key for an attribute set, independent of key order. */
export function attributesKey(a: Attributes): string {
  const keys = Object.keys(a).sort();
  let s = '';
  for (const k of keys) s += JSON.stringify(k) + '=' + JSON.stringify(a[k]) + ';';
  return s;
}

function expectObject(v: unknown, where: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new WireFormatError(`${where}: expected an object`);
  return v as Record<string, unknown>;
}
function expectArray(v: unknown, where: string): unknown[] {
  if (!Array.isArray(v)) throw new WireFormatError(`${where}: expected an array`);
  return v;
}
function expectNumber(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new WireFormatError(`${where}: expected a finite number`);
  return v;
}
function expectCount(v: unknown, where: string): number {
  const n = expectNumber(v, where);
  if (n < 0 || !Number.isSafeInteger(n)) throw new WireFormatError(`${where}: expected a non-negative integer up to 2^53 - 1`);
  return n;
}
function expectString(v: unknown, where: string): string {
  if (typeof v !== 'string') throw new WireFormatError(`${where}: expected a string`);
  return v;
}
function expectTemporality(v: unknown, where: string): Temporality {
  if (v === 'delta' || v === 'cumulative') return v;
  throw new WireFormatError(`${where}.temporality: expected "delta" or "cumulative"`);
}
function expectAttributes(v: unknown, where: string): Attributes {
  const o = expectObject(v, where);
  for (const [k, val] of Object.entries(o)) {
    if (typeof val !== 'string' && typeof val !== 'number' && typeof val !== 'boolean') {
      throw new WireFormatError(`${where}.${k}: attribute values must be strings, numbers or booleans`);
    }
  }
  return o as Attributes;
}
