/** A subcommand of the otel-bandwidth CLI. */
export interface Command {
  name: string;
  summary: string;
  /** the full --help text */
  help: string;
  run(args: string[]): Promise<number>;
}

export const ENVIRONMENT_HELP = `Environment:
  REDIS_URL                      Redis (default redis://127.0.0.1:6379)
  MYSQL_URL                      MySQL or MariaDB (default mysql://root@127.0.0.1:3306/otel_bandwidth)
  OTEL_BANDWIDTH_KEY_PREFIX      Redis key prefix, the hash tag of every key (default otel-bandwidth)`;

export function wantsHelp(args: string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}
