import { performance } from 'node:perf_hooks';
import {
  escapeHelpText,
  escapeLabelValue,
  formatSampleValue,
  processMetricFamilies,
  renderPrometheusText,
  type MetricFamily,
} from '@otel-bandwidth/core';
import { promtoolProblems } from 'test-support';

describe('renderPrometheusText', () => {
  it('writes HELP, TYPE and the samples of each family, in order, labels as given', () => {
    const families: MetricFamily[] = [
      { name: 'shop_requests_total', type: 'counter', help: 'Requests served.', samples: [{ labels: { method: 'GET', code: '200' }, value: 1027 }, { labels: { method: 'POST', code: '500' }, value: 3 }] },
      { name: 'shop_queue_length', type: 'gauge', help: 'Entries waiting.', samples: [{ value: 0 }] },
      { name: 'shop_temperature_celsius', type: 'gauge', help: 'How warm it is.', samples: [{ value: -1.5 }] },
    ];
    const text = renderPrometheusText(families);
    expect(text).toBe(
      '# HELP shop_requests_total Requests served.\n' +
        '# TYPE shop_requests_total counter\n' +
        'shop_requests_total{method="GET",code="200"} 1027\n' +
        'shop_requests_total{method="POST",code="500"} 3\n' +
        '# HELP shop_queue_length Entries waiting.\n' +
        '# TYPE shop_queue_length gauge\n' +
        'shop_queue_length 0\n' +
        '# HELP shop_temperature_celsius How warm it is.\n' +
        '# TYPE shop_temperature_celsius gauge\n' +
        'shop_temperature_celsius -1.5\n',
    );
    expect(promtoolProblems(text)).toBe('');
  });

  it('escapes backslashes and line feeds in HELP, and double quotes too in label values', () => {
    expect(escapeHelpText('a\\b\nc "quoted"')).toBe('a\\\\b\\nc "quoted"');
    expect(escapeLabelValue('C:\\dir\n"x"')).toBe('C:\\\\dir\\n\\"x\\"');
    const text = renderPrometheusText([
      { name: 'odd_values', type: 'gauge', help: 'Backslash \\ and\nnewline, "quotes" kept.', samples: [{ labels: { path: 'C:\\tmp\n"a"' }, value: 1 }, { labels: { path: '' }, value: 2 }] },
    ]);
    expect(text).toBe(
      '# HELP odd_values Backslash \\\\ and\\nnewline, "quotes" kept.\n' +
        '# TYPE odd_values gauge\n' +
        'odd_values{path="C:\\\\tmp\\n\\"a\\""} 1\n' +
        'odd_values{path=""} 2\n',
    );
    expect(promtoolProblems(text)).toBe('');
  });

  it('writes NaN and infinities as the format spells them, whole numbers in digits, other numbers exactly', () => {
    expect([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY].map(formatSampleValue)).toEqual(['NaN', '+Inf', '-Inf']);
    expect([0, -0, 7, -42, 2 ** 53, 1e20].map(formatSampleValue)).toEqual(['0', '0', '7', '-42', '9007199254740992', '100000000000000000000']);
    expect([0.1, 1.25, 1 / 3, 1.5e-7, 1e21, 1.7976931348623157e308].map(formatSampleValue)).toEqual([
      '0.1',
      '1.25',
      '0.3333333333333333',
      '1.5e-7',
      '1e+21',
      '1.7976931348623157e+308',
    ]);
    const text = renderPrometheusText([
      {
        name: 'edge_values',
        type: 'gauge',
        help: 'Values at the edges.',
        samples: [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5e-7, 1e21].map((value, i) => ({ labels: { i: String(i) }, value })),
      },
    ]);
    expect(text).toBe(
      '# HELP edge_values Values at the edges.\n# TYPE edge_values gauge\n' +
        'edge_values{i="0"} NaN\nedge_values{i="1"} +Inf\nedge_values{i="2"} -Inf\nedge_values{i="3"} 1.5e-7\nedge_values{i="4"} 1e+21\n',
    );
    expect(promtoolProblems(text)).toBe('');
  });

  it('leaves out a family without samples, and writes nothing for none', () => {
    expect(renderPrometheusText([])).toBe('');
    expect(
      renderPrometheusText([
        { name: 'unread_seconds', type: 'gauge', help: 'Could not be read.', samples: [] },
        { name: 'read_seconds', type: 'gauge', help: 'Was read.', samples: [{ value: 2 }] },
      ]),
    ).toBe('# HELP read_seconds Was read.\n# TYPE read_seconds gauge\nread_seconds 2\n');
  });

  it.each<[string, MetricFamily[], string]>([
    ['a metric name with a dash', [{ name: 'bad-name', type: 'gauge', help: 'x', samples: [] }], '"bad-name" is not a metric name'],
    ['a counter without _total', [{ name: 'flushes', type: 'counter', help: 'x', samples: [] }], 'counter flushes must end in _total'],
    ['a gauge with _total', [{ name: 'entries_total', type: 'gauge', help: 'x', samples: [] }], 'gauge entries_total must not end in _total (that is for counters)'],
    ['no help', [{ name: 'quiet', type: 'gauge', help: ' ', samples: [] }], 'quiet has no help text'],
    ['a label name with a dash', [{ name: 'g', type: 'gauge', help: 'x', samples: [{ labels: { 'a-b': '1' }, value: 1 }] }], 'g: "a-b" is not a label name'],
    ['a reserved label name', [{ name: 'g', type: 'gauge', help: 'x', samples: [{ labels: { __name__: 'h' }, value: 1 }] }], 'g: "__name__" is not a label name'],
    [
      'two samples with the same labels',
      [{ name: 'g', type: 'gauge', help: 'x', samples: [{ labels: { a: '1', b: '2' }, value: 1 }, { labels: { b: '2', a: '1' }, value: 2 }] }],
      'g has two samples with the labels [["a","1"],["b","2"]]',
    ],
    [
      'a name given twice',
      [
        { name: 'g', type: 'gauge', help: 'x', samples: [] },
        { name: 'g', type: 'gauge', help: 'y', samples: [] },
      ],
      'g is given twice',
    ],
  ])('refuses %s', (_what, families, problem) => {
    expect(() => renderPrometheusText(families)).toThrow(`cannot expose metric family: ${problem}`);
  });
});

describe('processMetricFamilies', () => {
  it('names the process basics as the Prometheus client libraries do, in base units', () => {
    const text = renderPrometheusText(processMetricFamilies({ residentMemoryBytes: 52_428_800, cpuMicros: 1_234_567, startTimeMs: 1_795_888_680_651.42 }));
    expect(text).toBe(
      '# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n' +
        '# TYPE process_cpu_seconds_total counter\n' +
        'process_cpu_seconds_total 1.234567\n' +
        '# HELP process_resident_memory_bytes Resident memory size in bytes.\n' +
        '# TYPE process_resident_memory_bytes gauge\n' +
        'process_resident_memory_bytes 52428800\n' +
        '# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.\n' +
        '# TYPE process_start_time_seconds gauge\n' +
        'process_start_time_seconds 1795888680.651\n',
    );
    expect(promtoolProblems(text)).toBe('');
  });

  it('reads the running process: its memory, its CPU so far, and when it started', () => {
    const [cpu, rss, start] = processMetricFamilies().map((f) => f.samples[0]?.value ?? Number.NaN);
    expect(rss).toBe(Math.round(rss!));
    expect(rss).toBeGreaterThan(0);
    expect(cpu).toBeGreaterThan(0);
    expect(start).toBe(Math.round(performance.timeOrigin) / 1000);
  });
});
