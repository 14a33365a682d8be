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

/** The environment of the commands that read the query API (monitor, loadtest). */
export const API_CLIENT_ENVIRONMENT_HELP = `Environment:
  OTEL_BANDWIDTH_API_URL         the query API's URL
  OTEL_BANDWIDTH_API_TOKEN       the bearer token to send it`;

export function wantsHelp(args: string[]): boolean {
  return args.includes('--help') || args.includes('-h');
}

/**
 * Walks a command's options in order: `take` handles one (asking for its value when it has one)
 * and returns false for an option it does not know, which is then refused by name.
 */
export function readOptions(
  command: string,
  args: readonly string[],
  take: (option: string, value: () => string, whole: (min: number, max: number) => number) => boolean,
): void {
  for (let i = 0; i < args.length; i++) {
    const option = args[i] as string;
    const value = (): string => {
      const v = args[++i];
      if (v === undefined) throw new Error(`${option} needs a value`);
      return v;
    };
    /** the option's value as a whole number from min to max */
    const whole = (min: number, max: number): number => {
      const v = value();
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) throw new Error(`${option} must be a whole number from ${min} to ${max}, got "${v}"`);
      return n;
    };
    if (!take(option, value, whole)) throw new Error(`unknown option ${option} (see otel-bandwidth ${command} --help)`);
  }
}

/**
 * The start of a command's run: its --help (exit status 0), or its options parsed, or the parse's
 * error printed as the command's own (exit status 2).
 */
export function helpOrOptions<T>(command: Command, args: readonly string[], parse: () => T): T | { exitCode: number } {
  if (wantsHelp([...args])) {
    process.stdout.write(`${command.help}\n`);
    return { exitCode: 0 };
  }
  try {
    return parse();
  } catch (err) {
    process.stderr.write(`otel-bandwidth ${command.name}: ${(err as Error).message}\n`);
    return { exitCode: 2 };
  }
}
