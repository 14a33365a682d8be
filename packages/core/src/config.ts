/**
 * Reading configuration from the environment. Every reader collects all problems and reports
 * them together, naming the variable, the bad value and what would be accepted.
 */

export type Env = Record<string, string | undefined>;

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';
export const DEFAULT_MYSQL_URL = 'mysql://root@127.0.0.1:3306/otel_bandwidth';

export class ConfigError extends Error {
  readonly problems: readonly string[];
  constructor(problems: readonly string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

interface IntRange {
  min?: number;
  max?: number;
}

export class EnvReader {
  private readonly problems: string[] = [];

  constructor(private readonly env: Env = process.env) {}

  private raw(name: string): string | undefined {
    const v = this.env[name];
    if (v === undefined) return undefined;
    const t = v.trim();
    return t === '' ? undefined : t;
  }

  string(name: string, fallback: string): string {
    return this.raw(name) ?? fallback;
  }

  optionalString(name: string): string | undefined {
    return this.raw(name);
  }

  /** A URL whose scheme is one of `schemes` (without the colon). */
  url(name: string, fallback: string, schemes: readonly string[]): string {
    const v = this.raw(name) ?? fallback;
    let parsed: URL;
    try {
      parsed = new URL(v);
    } catch {
      this.problems.push(`${name}="${v}" is not a URL (expected for example ${fallback})`);
      return fallback;
    }
    const scheme = parsed.protocol.replace(/:$/, '');
    if (!schemes.includes(scheme)) {
      this.problems.push(`${name}="${redactUrl(v)}" has scheme "${scheme}:", expected ${schemes.map((s) => `${s}:`).join(' or ')}`);
      return fallback;
    }
    return v;
  }

  int(name: string, fallback: number, range: IntRange = {}): number {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const n = Number(v);
    const bounds = describeRange(range);
    if (!/^-?\d+$/.test(v) || !Number.isSafeInteger(n)) {
      this.problems.push(`${name}="${v}" is not a whole number${bounds}`);
      return fallback;
    }
    if ((range.min !== undefined && n < range.min) || (range.max !== undefined && n > range.max)) {
      this.problems.push(`${name}=${v} is out of range${bounds}`);
      return fallback;
    }
    return n;
  }

  bool(name: string, fallback: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    const l = v.toLowerCase();
    if (['1', 'true', 'yes', 'on'].includes(l)) return true;
    if (['0', 'false', 'no', 'off'].includes(l)) return false;
    this.problems.push(`${name}="${v}" is not a boolean (use true or false)`);
    return fallback;
  }

  oneOf<T extends string>(name: string, fallback: T, allowed: readonly T[]): T {
    const v = this.raw(name);
    if (v === undefined) return fallback;
    if ((allowed as readonly string[]).includes(v)) return v as T;
    this.problems.push(`${name}="${v}" is not one of ${allowed.join(', ')}`);
    return fallback;
  }

  /** Adds a problem found by a check the reader cannot express. */
  problem(message: string): void {
    this.problems.push(message);
  }

  /** Throws a ConfigError listing every problem found, if any. */
  done(): void {
    if (this.problems.length > 0) throw new ConfigError(this.problems);
  }
}

function describeRange(r: IntRange): string {
  if (r.min !== undefined && r.max !== undefined) return ` (expected ${r.min} to ${r.max})`;
  if (r.min !== undefined) return ` (expected at least ${r.min})`;
  if (r.max !== undefined) return ` (expected at most ${r.max})`;
  return '';
}

/** The URL with its password replaced, for messages and logs. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
