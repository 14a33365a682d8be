import { spawnSync } from 'node:child_process';
import path from 'node:path';

const BIN = path.resolve(__dirname, '..', 'dist', 'bin.js');
const run = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });

describe('otel-bandwidth CLI', () => {
  it('lists its commands', () => {
    const r = run(['--help']);
    expect(r.status).toBe(0);
    for (const name of ['migrate', 'aggregator', 'api', 'demo']) expect(r.stdout).toContain(`  ${name} `);
  });

  it.each(['migrate', 'aggregator', 'api', 'demo'])('%s --help explains the command and its environment', (name) => {
    const r = run([name, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`Usage: otel-bandwidth ${name}`);
    expect(r.stdout).toContain('REDIS_URL');
  });

  it('rejects an unknown command', () => {
    const r = run(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });

  it('rejects a bad demo option in one line, with exit status 2', () => {
    const bad = run(['demo', '--duration', 'abc']);
    expect([bad.status, bad.stderr]).toEqual([2, 'otel-bandwidth demo: --duration must be a positive number, got "abc"\n']);
    const unknown = run(['demo', '--bogus']);
    expect([unknown.status, unknown.stderr]).toEqual([2, 'otel-bandwidth demo: unknown option --bogus (see otel-bandwidth demo --help)\n']);
  });

  it('the demo refuses a deployment\'s database or key prefix as its own', () => {
    const r = run(['demo', '--no-keep', '--database', 'otel_bandwidth', '--key-prefix', 'live'], { OTEL_BANDWIDTH_KEY_PREFIX: 'live' });
    expect([r.status, r.stderr]).toEqual([
      1,
      'otel-bandwidth: invalid configuration:\n' +
        "  - --database otel_bandwidth is a deployment's database (the default, or MYSQL_URL's); the demo drops its database: name another\n" +
        "  - --key-prefix live is a deployment's prefix (the default, or OTEL_BANDWIDTH_KEY_PREFIX); the demo deletes its stream: name another\n",
    ]);
  });

  it('says in one line that MySQL refused the user, without the password', () => {
    const r = run(['migrate'], { MYSQL_URL: 'mysql://nobody:s3cret@127.0.0.1:3306/obw_test_refused' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^otel-bandwidth: invalid configuration:\n  - MYSQL_URL="mysql:\/\/nobody:\*\*\*@127\.0\.0\.1:3306\/obw_test_refused": MySQL refused the user \(Access denied/);
    expect(r.stderr).not.toContain('s3cret');
  });

  it('names every bad variable at start', () => {
    const r = run(['aggregator'], { OTEL_BANDWIDTH_FLUSH_INTERVAL: 'soon', REDIS_URL: 'http://x' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'otel-bandwidth: invalid configuration:\n' +
        '  - REDIS_URL="http://x" has scheme "http:", expected redis: or rediss:\n' +
        '  - OTEL_BANDWIDTH_FLUSH_INTERVAL="soon" is not a whole number (expected 100 to 600000)\n',
    );
  });

  it('refuses a metrics port that is not a number, naming the variable', () => {
    const r = run(['aggregator'], { OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT: 'prometheus' });
    expect([r.status, r.stderr]).toEqual([
      1,
      'otel-bandwidth: invalid configuration:\n  - OTEL_BANDWIDTH_AGGREGATOR_METRICS_PORT="prometheus" is not a whole number (expected 0 to 65535)\n',
    ]);
  });

  it('refuses alert rules with a mistake at start, naming the rule and the field', () => {
    const r = run(['aggregator'], {
      OTEL_BANDWIDTH_ALERT_RULES: '[{"name":"egress","type":"threshold","metric":"outbound","per":"route","above":"10MB"}]',
      OTEL_BANDWIDTH_ALERT_WEBHOOK_URL: 'https://hooks.example.com/T0/B0/x',
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'otel-bandwidth: invalid configuration:\n' +
        '  - OTEL_BANDWIDTH_ALERT_RULES:\n' +
        '      - rule 1 ("egress"): "per" is "route": must be one of endpoint, service, all\n' +
        '      - rule 1 ("egress"): "above" is "10MB": must be a number at least 0\n',
    );
  });

  it('the demo says which store does not answer, where, and how to start it', () => {
    const r = run(['demo', '--no-keep'], { REDIS_URL: 'redis://127.0.0.1:1' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(
      'otel-bandwidth: Redis at redis://127.0.0.1:1 does not answer (ECONNREFUSED). Start it (for example `docker compose up -d redis`) or point REDIS_URL at a running server.\n',
    );
    const m = run(['demo', '--no-keep'], { MYSQL_URL: 'mysql://root@127.0.0.1:1/otel_bandwidth' });
    expect(m.status).toBe(1);
    expect(m.stderr).toContain('MySQL at mysql://root@127.0.0.1:1/otel_bandwidth_demo does not answer (ECONNREFUSED). Start it (for example `docker compose up -d mysql`)');
  });

  it.each(['aggregator', 'api'])('%s refuses to start on a database without its tables, and says to migrate', async (command) => {
    const mysql = await import('mysql2/promise');
    const name = `obw_test_cli_unmigrated_${command}`;
    const conn = await mysql.createConnection({ host: '127.0.0.1', user: 'root' });
    await conn.query(`CREATE DATABASE IF NOT EXISTS \`${name}\``);
    try {
      const r = run([command], { MYSQL_URL: `mysql://root@127.0.0.1:3306/${name}`, OTEL_BANDWIDTH_KEY_PREFIX: `obw-test-cli-${command}` });
      expect([r.status, r.stderr]).toEqual([
        1,
        'otel-bandwidth: invalid configuration:\n' +
          `  - MYSQL_URL="mysql://root@127.0.0.1:3306/${name}": database "${name}" has 0 of the 7 migrations this version needs; create or update its tables with \`otel-bandwidth migrate\`\n`,
      ]);
    } finally {
      await conn.query(`DROP DATABASE \`${name}\``);
      await conn.end();
    }
  });

  it('api starts for a MySQL user who may read the tables it serves but not the migrations table', async () => {
    const mysql = await import('mysql2/promise');
    const { migrate } = await import('@otel-bandwidth/storage');
    const name = 'obw_test_cli_reader';
    await migrate(`mysql://root@127.0.0.1:3306/${name}`);
    const conn = await mysql.createConnection({ host: '127.0.0.1', user: 'root' });
    const hosts = ['127.0.0.1', 'localhost'];
    try {
      for (const host of hosts) {
        await conn.query(`CREATE USER IF NOT EXISTS 'obw_reader'@'${host}' IDENTIFIED BY 'r3ader'`);
        await conn.query(`GRANT SELECT ON \`${name}\`.\`metrics_hourly\` TO 'obw_reader'@'${host}'`);
      }
      const { spawn } = await import('node:child_process');
      const child = spawn(process.execPath, [BIN, 'api'], {
        env: { ...process.env, MYSQL_URL: `mysql://obw_reader:r3ader@127.0.0.1:3306/${name}`, OTEL_BANDWIDTH_API_PORT: '0', OTEL_BANDWIDTH_KEY_PREFIX: 'obw-test-cli-reader' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (b: Buffer) => {
          stdout += b.toString();
          if (stdout.includes('query API listening on')) resolve();
        });
        void exited.then(() => resolve());
      });
      child.kill('SIGTERM');
      expect([await exited, stderr]).toEqual([0, '']);
      expect(stdout).toMatch(/^query API listening on http:\/\/127\.0\.0\.1:\d+\n$/);
    } finally {
      for (const host of hosts) await conn.query(`DROP USER IF EXISTS 'obw_reader'@'${host}'`);
      await conn.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await conn.end();
    }
  });

  it('api serves HTTPS with OTEL_BANDWIDTH_API_TLS_CERT and _KEY, and nothing in plain HTTP', async () => {
    const { spawn } = await import('node:child_process');
    const https = await import('node:https');
    const http = await import('node:http');
    const { createTestDatabase, selfSignedCertificate } = await import('test-support');
    const db = await createTestDatabase('cli_tls');
    const certificate = selfSignedCertificate();
    const child = spawn(process.execPath, [BIN, 'api'], {
      env: {
        ...process.env,
        MYSQL_URL: db.url,
        OTEL_BANDWIDTH_API_PORT: '0',
        OTEL_BANDWIDTH_KEY_PREFIX: 'obw-test-cli-tls',
        OTEL_BANDWIDTH_API_TLS_CERT: certificate.certFile,
        OTEL_BANDWIDTH_API_TLS_KEY: certificate.keyFile,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      let stdout = '';
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (b: Buffer) => {
          stdout += b.toString();
          if (stdout.includes('\n')) resolve();
        });
        void exited.then(() => resolve());
      });
      expect([stdout, stderr]).toEqual([expect.stringMatching(/^query API listening on https:\/\/127\.0\.0\.1:\d+\n$/), '']);
      const port = Number(/:(\d+)\n$/.exec(stdout)?.[1]);
      // the client trusts the test's certificate, and nothing else
      const answer = await new Promise<{ status: number | undefined; body: string }>((resolve, reject) => {
        https
          .get({ host: '127.0.0.1', port, path: '/healthz', ca: certificate.cert }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode, body }));
          })
          .on('error', reject);
      });
      expect(answer).toEqual({ status: 200, body: JSON.stringify({ status: 'ok', redis: 'ok', mysql: 'ok' }) });
      // a plain HTTP request is not answered as one
      const plain = await new Promise<string>((resolve) => {
        http
          .get({ host: '127.0.0.1', port, path: '/healthz' }, (res) => resolve(`answered ${res.statusCode}`))
          .on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
      });
      expect(plain).not.toMatch(/^answered 200/);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
      certificate.remove();
      await db.drop();
    }
  });
});
