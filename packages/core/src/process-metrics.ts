import { performance } from 'node:perf_hooks';
import type { MetricFamily } from './prometheus-text';

/** What processMetricFamilies reads: the running process's, unless a test gives its own. */
export interface ProcessReadings {
  /** resident set size, bytes */
  residentMemoryBytes: number;
  /** user and system CPU time since the process started, microseconds */
  cpuMicros: number;
  /** when the process started, ms since the epoch */
  startTimeMs: number;
}

/** The running process's readings; each is a cheap call (no heap walk). */
export function readProcess(): ProcessReadings {
  const cpu = process.cpuUsage();
  return { residentMemoryBytes: process.memoryUsage.rss(), cpuMicros: cpu.user + cpu.system, startTimeMs: performance.timeOrigin };
}

/**
 * The process's basics under the names every Prometheus client library uses for them
 * (`process_…`, no prefix of ours), so the dashboards and alerts written for those work as they are.
 */
export function processMetricFamilies(readings: ProcessReadings = readProcess()): MetricFamily[] {
  return [
    { name: 'process_cpu_seconds_total', type: 'counter', help: 'Total user and system CPU time spent in seconds.', samples: [{ value: readings.cpuMicros / 1e6 }] },
    { name: 'process_resident_memory_bytes', type: 'gauge', help: 'Resident memory size in bytes.', samples: [{ value: readings.residentMemoryBytes }] },
    {
      name: 'process_start_time_seconds',
      type: 'gauge',
      help: 'Start time of the process since unix epoch in seconds.',
      samples: [{ value: Math.round(readings.startTimeMs) / 1000 }],
    },
  ];
}
