import { DEFAULT_MYSQL_URL, EnvReader, redactUrl } from '@otel-bandwidth/core';
import { migrate } from '@otel-bandwidth/storage';
import { ENVIRONMENT_HELP, wantsHelp, type Command } from '../command';

export const migrateCommand: Command = {
  name: 'migrate',
  summary: 'create or upgrade the MySQL tables',
  help: `Usage: otel-bandwidth migrate

Creates the database named in MYSQL_URL if needed and applies the schema's migrations.
Safe to run again, and from several processes at once.

${ENVIRONMENT_HELP}`,
  async run(args) {
    if (wantsHelp(args)) {
      process.stdout.write(`${this.help}\n`);
      return 0;
    }
    const env = new EnvReader();
    const url = env.url('MYSQL_URL', DEFAULT_MYSQL_URL, ['mysql', 'mariadb']);
    env.done();
    const result = await migrate(url);
    process.stdout.write(`migrated ${redactUrl(url)}: ${result.applied} applied now, ${result.total} in all\n`);
    return 0;
  },
};
