#!/usr/bin/env node
// `npm test` and `npm run demo` on a fresh clone with nothing but Node and npm: installs the
// dependencies with the pinned pnpm (from package.json's packageManager) and the lockfile,
// builds every package, then runs the tests or the demo (or packs every package into packs/).
// Extra arguments are passed on.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
const pnpmVersion = String(pkg.packageManager).replace(/^pnpm@/, '');
const [task, ...args] = process.argv.slice(2);

function run(cmd, cmdArgs, options = {}) {
  const r = spawnSync(cmd, cmdArgs, { cwd: root, stdio: 'inherit', ...options });
  if (r.error) throw r.error;
  return r.status ?? 1;
}

function pnpm() {
  const probe = spawnSync('pnpm', ['--version'], { cwd: root, encoding: 'utf8' });
  if (probe.status === 0 && probe.stdout.trim() === pnpmVersion) return ['pnpm'];
  return ['npx', '--yes', `pnpm@${pnpmVersion}`];
}

function installIfNeeded() {
  const marker = path.join(root, 'node_modules', '.modules.yaml');
  const lock = path.join(root, 'pnpm-lock.yaml');
  if (fs.existsSync(marker) && fs.statSync(marker).mtimeMs >= fs.statSync(lock).mtimeMs) return;
  const [cmd, ...pre] = pnpm();
  process.stdout.write(`Installing dependencies with pnpm ${pnpmVersion} ...\n`);
  const status = run(cmd, [...pre, 'install', '--frozen-lockfile']);
  if (status !== 0) process.exit(status);
}

function build() {
  const status = run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'tsconfig.json']);
  if (status !== 0) process.exit(status);
}

installIfNeeded();
build();
if (task === 'test') {
  // the tests' types first: jest runs them through swc, which does not check them
  const typecheck = run(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join('test', 'tsconfig.json')]);
  if (typecheck !== 0) process.exit(typecheck);
  process.exit(run(process.execPath, [path.join(root, 'node_modules', 'jest', 'bin', 'jest.js'), ...args]));
} else if (task === 'demo') {
  process.exit(run(process.execPath, [path.join(root, 'packages', 'cli', 'dist', 'bin.js'), 'demo', ...args]));
} else if (task === 'build') {
  process.exit(0);
} else if (task === 'pack') {
  // a tarball per package into packs/, for services to install until the packages are on a registry
  const out = path.join(root, 'packs');
  fs.mkdirSync(out, { recursive: true });
  const [cmd, ...pre] = pnpm();
  for (const dir of fs.readdirSync(path.join(root, 'packages')).sort()) {
    const status = run(cmd, [...pre, 'pack', '--pack-destination', out], { cwd: path.join(root, 'packages', dir), stdio: ['ignore', 'ignore', 'inherit'] });
    if (status !== 0) process.exit(status);
  }
  process.stdout.write(`${fs.readdirSync(out).filter((f) => f.endsWith('.tgz')).sort().map((f) => `packs/${f}`).join('\n')}\n`);
  process.exit(0);
} else {
  process.stderr.write('usage: node scripts/workspace.mjs test|demo|build|pack [args...]\n');
  process.exit(2);
}
