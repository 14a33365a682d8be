#!/usr/bin/env node
import { ConfigError, ServiceUnreachableError } from '@otel-bandwidth/core';
import type { Command } from './command';
import { aggregatorCommand } from './commands/aggregator';
import { apiCommand } from './commands/api';
import { demoCommand } from './commands/demo';
import { loadtestCommand } from './commands/loadtest';
import { migrateCommand } from './commands/migrate';
import { monitorCommand } from './commands/monitor';

const COMMANDS: Command[] = [migrateCommand, aggregatorCommand, apiCommand, monitorCommand, demoCommand, loadtestCommand];

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `Usage: otel-bandwidth <command> [options]

Per-endpoint HTTP bandwidth, request and latency monitoring for Node.js services.

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join('\n')}

Run otel-bandwidth <command> --help for a command's options and environment.
Instrument a service with: node --require @otel-bandwidth/instrumentation/register app.js`;
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(`${usage()}\n`);
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    process.stderr.write(`otel-bandwidth: unknown command "${name}"\n\n${usage()}\n`);
    return 2;
  }
  return command.run(rest);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof ConfigError || err instanceof ServiceUnreachableError) {
      // a URL the user never set is the default: say so, or it reads as their own setting
      const named = err instanceof ServiceUnreachableError ? [err.service === 'MySQL' ? 'MYSQL_URL' : 'REDIS_URL'] : ['MYSQL_URL', 'REDIS_URL'].filter((v) => err.message.includes(`${v}="`));
      const defaulted = named.filter((v) => !process.env[v]);
      const note = defaulted.map((v) => `  (${v} is not set: that URL is its default)\n`).join('');
      process.stderr.write(`otel-bandwidth: ${err.message}\n${note}`);
    } else {
      process.stderr.write(`otel-bandwidth: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    }
    // open connections must not keep a failed command alive
    process.exit(1);
  },
);
