import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { dropDatabase } from '@otel-bandwidth/storage';
import { MYSQL_SERVER_URL, REPO_ROOT, createTestRedis } from 'test-support';

describe('otel-bandwidth demo', () => {
  it('runs the pipeline end to end and finds every request and byte it sent, in a database and key prefix of its own', async () => {
    // names no other test file uses (the demo drops and recreates its database)
    const redis = await createTestRedis('demo');
    const database = `obw_test_demo_${redis.prefix.slice(-6)}`;
    const args = ['demo', '--duration', '3', '--no-keep', '--database', database, '--key-prefix', redis.prefix];
    const r = spawnSync(process.execPath, [path.join(REPO_ROOT, 'packages', 'cli', 'dist', 'bin.js'), ...args], {
      encoding: 'utf8',
      env: { ...process.env, OTEL_BANDWIDTH_API_PORT: '0' },
      timeout: 90_000,
    });
    try {
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout).toContain(`/${database} (tables metrics_hourly`);
      expect(r.stdout).toContain(`aggregator    reading {${redis.prefix}}:metrics`);
      expect(r.stdout).toContain('The aggregator, the query API and the shop stop now');
      expect(r.stdout).not.toContain('The web dashboard is at');
      // how many endpoints pass 50 KiB/s depends on the machine's speed; each open alert is listed
      const alerts = /\nAlerts \(rule demo-egress: an endpoint's outbound bandwidth above 50 KiB\/s, the \d+ s of traffic averaged over the rule's 2-minute window\): (\d+) open\n((?: {2}HIGH {2}.*\n)*)/.exec(r.stdout);
      expect(alerts).not.toBeNull();
      const listed = (alerts?.[2] ?? '').split('\n').filter((l) => l !== '');
      expect(listed).toHaveLength(Number(alerts?.[1]));
      for (const line of listed) expect(line).toMatch(/^ {2}HIGH {2}outbound bandwidth of (GET|POST) \S+ \(demo-shop\) [\d.]+ (KiB|MiB|GiB)\/s over 2 min, above 50 KiB\/s \(rule demo-egress\)$/);
    } finally {
      await dropDatabase(`${MYSQL_SERVER_URL}/${database}`);
      await redis.cleanup();
    }
    expect(r.stdout).toContain('Every request and every byte the generator counted is in MySQL, exactly.');
    for (const endpoint of ['/api/products/:id', '/api/products', '/api/orders', '/api/reports/daily', '/api/fail', '(unmatched)']) {
      expect(r.stdout).toMatch(new RegExp(`✓  (GET|POST) +${endpoint.replace(/[()/:]/g, '\\$&')} `));
    }
  });
});
