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

/**
 * Walks a command's options in order: `take` handles one (asking for its value when it has one)
 * and returns false for an option it does not know, which is then refused by name.
 */
export function readOptions(command: string, args: readonly string[], take: (option: string, value: () => string) => boolean): void {
  for (let i = 0; i < args.length; i++) {
    const option = args[i] as string;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${option} needs a value`);
      return v;
    };
    if (!take(option, value)) throw new Error(`unknown option ${option} (see otel-bandwidth ${command} --help)`);
  }
}
