import { spawnSync } from 'node:child_process';

/** Prometheus' own checker: promtool on the PATH (.ci/run installs it), or PROMTOOL_PATH. */
export const PROMTOOL = process.env.PROMTOOL_PATH ?? 'promtool';

/**
 * What `promtool check metrics` says of an exposition body: parse errors and lint problems (a
 * counter without `_total`, a metric without help text, a unit that is not a base unit ...), ''
 * when it has nothing to say. Fails saying so where promtool is not installed.
 */
export function promtoolProblems(text: string): string {
  const r = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if ((r.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT') {
    throw new Error(`no ${PROMTOOL} to check the exposition with: install it (.ci/run does: Debian's prometheus package holds it), or set PROMTOOL_PATH`);
  }
  if (r.error) throw r.error;
  const said = `${r.stdout}${r.stderr}`.trim();
  // 0: clean; 1: does not parse; 3: parses, with lint problems
  return r.status === 0 ? said : said === '' ? `promtool check metrics exited ${r.status}` : said;
}

/** Each sample line's `name{labels}` and its value as written, the process' own (`process_*`, which change as it runs) left out. */
export function prometheusSamples(text: string): Record<string, string> {
  const samples: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#') || line.startsWith('process_')) continue;
    const at = line.lastIndexOf(' ');
    samples[line.slice(0, at)] = line.slice(at + 1);
  }
  return samples;
}
