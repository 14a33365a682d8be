import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT } from 'test-support';

describe('otel-bandwidth demo', () => {
  it('runs the pipeline end to end and finds every request and byte it sent', () => {
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'packages', 'cli', 'dist', 'bin.js'), 'demo', '--duration', '3', '--no-keep'], {
      encoding: 'utf8',
      env: { ...process.env, OTEL_BANDWIDTH_API_PORT: '0' },
      timeout: 90_000,
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Every request and every byte the generator counted is in MySQL, exactly.');
    for (const endpoint of ['/api/products/:id', '/api/products', '/api/orders', '/api/reports/daily', '/api/fail', '(unmatched)']) {
      expect(r.stdout).toMatch(new RegExp(`✓  (GET|POST) +${endpoint.replace(/[()/:]/g, '\\$&')} `));
    }
  });
});
