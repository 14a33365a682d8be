/**
 * Prometheus' text exposition format, version 0.0.4: what a scrape of GET /metrics reads.
 * https://prometheus.io/docs/instrumenting/exposition_formats/
 */

/** The Content-Type of a body renderPrometheusText made. */
export const PROMETHEUS_TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** A counter only goes up (its name ends in `_total`); a gauge is a level that goes both ways. */
export type MetricType = 'counter' | 'gauge';

export interface MetricSample {
  /** label name to value; rendered in this order. None: the family's one unlabelled sample. */
  labels?: Readonly<Record<string, string>>;
  value: number;
}

/** One metric name with its help text, its type and its samples. */
export interface MetricFamily {
  name: string;
  /** one line saying what the metric is, in base units */
  help: string;
  type: MetricType;
  samples: readonly MetricSample[];
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** HELP text: a backslash and a line feed are escaped. */
export function escapeHelpText(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/** A label value, between its double quotes: a backslash, a double quote and a line feed are escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * A sample's value as the format writes it: `NaN`, `+Inf`, `-Inf`; a whole number in plain
 * digits (1e21 and beyond, where JavaScript turns to an exponent, as Go's ParseFloat reads it);
 * any other number in the shortest form that reads back as the same double.
 */
export function formatSampleValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  // -0 is written 0
  if (value === 0) return '0';
  return String(value);
}

/** Why a family cannot be written as it is, or undefined when it can. */
function familyProblem(family: MetricFamily): string | undefined {
  if (!METRIC_NAME.test(family.name)) return `"${family.name}" is not a metric name`;
  if (family.type === 'counter' && !family.name.endsWith('_total')) return `counter ${family.name} must end in _total`;
  if (family.type === 'gauge' && family.name.endsWith('_total')) return `gauge ${family.name} must not end in _total (that is for counters)`;
  if (family.help.trim() === '') return `${family.name} has no help text`;
  const seen = new Set<string>();
  for (const sample of family.samples) {
    const names = Object.keys(sample.labels ?? {});
    for (const label of names) {
      if (!LABEL_NAME.test(label) || label.startsWith('__')) return `${family.name}: "${label}" is not a label name`;
    }
    const key = JSON.stringify(Object.entries(sample.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    if (seen.has(key)) return `${family.name} has two samples with the labels ${key}`;
    seen.add(key);
  }
  return undefined;
}

function sampleLine(name: string, sample: MetricSample): string {
  const labels = Object.entries(sample.labels ?? {});
  const labelText = labels.length === 0 ? '' : `{${labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')}}`;
  return `${name}${labelText} ${formatSampleValue(sample.value)}\n`;
}

/**
 * The families as one exposition body: for each, in the order given, its HELP and TYPE lines and
 * then its samples. A family without samples is left out (a value that could not be read is not
 * reported as anything). Throws on a family the format or its naming rules would not take: a bad
 * metric or label name, a counter not ending in `_total` or a gauge ending in it, no help text,
 * a name given twice, two samples with the same labels.
 */
export function renderPrometheusText(families: readonly MetricFamily[]): string {
  const names = new Set<string>();
  let text = '';
  for (const family of families) {
    const problem = familyProblem(family);
    if (problem !== undefined) throw new Error(`cannot expose metric family: ${problem}`);
    if (names.has(family.name)) throw new Error(`cannot expose metric family: ${family.name} is given twice`);
    names.add(family.name);
    if (family.samples.length === 0) continue;
    text += `# HELP ${family.name} ${escapeHelpText(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
    for (const sample of family.samples) text += sampleLine(family.name, sample);
  }
  return text;
}
