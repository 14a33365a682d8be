/**
 * Reading configuration from the environment. Every reader collects all problems and reports
 * them together, naming the variable, the bad value and what would be accepted.
 */

import { DEFAULT_KEY_PREFIX } from './redis-keys';

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

  /** A whole number when the variable is set, undefined when it is not (or when it is bad: then a problem). */
  optionalInt(name: string, range: IntRange = {}): number | undefined {
    if (this.raw(name) === undefined) return undefined;
    const before = this.problems.length;
    const n = this.int(name, 0, range);
    return this.problems.length === before ? n : undefined;
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

  /**
   * REDIS_URL and OTEL_BANDWIDTH_REDIS_CLUSTER: a redis:// or rediss:// URL or, with the cluster
   * switch on, the seed nodes of a Redis Cluster, comma-separated (later ones may be bare
   * host:port; scheme and credentials come from the first).
   */
  redis(): { url: string; cluster: boolean } {
    const cluster = this.bool('OTEL_BANDWIDTH_REDIS_CLUSTER', false);
    const value = this.raw('REDIS_URL');
    if (!cluster) {
      if (value?.includes(',')) {
        this.problems.push('REDIS_URL lists several nodes; set OTEL_BANDWIDTH_REDIS_CLUSTER=true if they are a Redis Cluster');
        return { url: DEFAULT_REDIS_URL, cluster };
      }
      return { url: this.url('REDIS_URL', DEFAULT_REDIS_URL, ['redis', 'rediss']), cluster };
    }
    const seeds = value ?? DEFAULT_REDIS_URL;
    const items = seeds.split(',').map((x) => x.trim());
    for (const item of items) {
      let problem: string | undefined;
      try {
        const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(item) ? item : `redis://${item}`);
        const scheme = u.protocol.replace(/:$/, '');
        if (scheme !== 'redis' && scheme !== 'rediss') problem = `has scheme "${scheme}:", expected redis: or rediss:`;
        else if (u.hostname === '') problem = 'names no host';
      } catch {
        problem = 'is not a Redis Cluster node (expected redis://host:port or host:port)';
      }
      if (problem !== undefined) {
        this.problems.push(`REDIS_URL="${redactUrl(seeds)}": "${redactUrl(item)}" ${problem}`);
        return { url: DEFAULT_REDIS_URL, cluster };
      }
    }
    return { url: seeds, cluster };
  }

  /** OTEL_BANDWIDTH_KEY_PREFIX: the hash tag of every Redis key, so without braces of its own. */
  keyPrefix(): string {
    const prefix = this.string('OTEL_BANDWIDTH_KEY_PREFIX', DEFAULT_KEY_PREFIX);
    if (/[{}]/.test(prefix)) {
      this.problems.push(`OTEL_BANDWIDTH_KEY_PREFIX="${prefix}" must not contain { or } (it becomes the keys' hash tag {${prefix}})`);
      return DEFAULT_KEY_PREFIX;
    }
    return prefix;
  }

  /** Whether any problem was found so far. */
  hasProblems(): boolean {
    return this.problems.length > 0;
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

/** The URL (or comma-separated URLs) with passwords replaced, for messages and logs. */
export function redactUrl(url: string): string {
  if (url.includes(',')) return url.split(',').map(redactUrl).join(',');
  try {
    const u = new URL(url);
    if (!u.password) return url;
    u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
