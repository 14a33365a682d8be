/**
 * The README's verdict on the preload's targets comes from the overhead benchmark's raw results
 * kept in bench/records/: pooled again here (`run.mjs --summarise`), they must still give the
 * figures and verdicts the README states, and a file that is not such a result is refused.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from 'test-support';

const RUN = path.join(REPO_ROOT, 'bench', 'overhead', 'run.mjs');
const EVENING = path.join(REPO_ROOT, 'bench', 'records', 'overhead-2026-12-06-evening');

function summarise(what: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [RUN, '--summarise', what], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The verdict rows: handler, target, measured, interval, verdict. */
function verdicts(stdout: string): string[] {
  const table = stdout.slice(stdout.indexOf('Preload against its targets'));
  return table
    .split('\n')
    .filter((line) => /^(json|stream)\s/.test(line))
    .map((line) => {
      const cells = line.split(/\s{2,}/);
      return [cells[0], cells[1], cells[2], cells[3], cells[5]].join(' | ');
    });
}

describe('bench/records: the runs the README cites', () => {
  it('pooled, every target of both handlers passes with its whole interval, with the figures the README gives', () => {
    const r = summarise(EVENING);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('(json 39, stream 49 sets)');
    expect(verdicts(r.stdout)).toEqual([
      'json | throughput | 0.989x | 0.984-0.996 | PASS',
      'json | CPU per request | +1.2% | +0.6 to +1.7% | PASS',
      'json | CPU, per process | +1.1% | +0.3 to +1.8% | PASS',
      'json | p99 latency | -0.00 ms | -0.05 to +0.03 | PASS',
      'json | RSS | +21.3 MB | +20.7 to +21.9 | PASS',
      'stream | throughput | 0.989x | 0.985-0.994 | PASS',
      'stream | CPU per request | +1.1% | +0.7 to +1.6% | PASS',
      'stream | CPU, per process | +1.5% | +1.0 to +1.7% | PASS',
      'stream | p99 latency | +0.08 ms | +0.01 to +0.19 | PASS',
      'stream | RSS | +20.7 MB | +20.5 to +20.9 | PASS',
    ]);
  });

  it('refuses what is not a raw result of the benchmark, saying which file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'obw-records-'));
    try {
      const bad = path.join(dir, 'bad.json');
      fs.writeFileSync(bad, '{"runs": 3}');
      const r = summarise(bad);
      expect(r.status).toBe(2);
      expect(r.stderr).toBe(`bench:overhead: ${bad}: not a raw results file of this benchmark (no options or runs)\n`);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
