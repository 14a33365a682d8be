/** What an error may carry: drizzle's error wraps mysql2's as `cause`, which says why. */
export interface ErrorFacts {
  name?: unknown;
  message?: unknown;
  code?: unknown;
  errno?: unknown;
  sqlState?: unknown;
  fatal?: unknown;
  cause?: unknown;
}

/** An error and the causes it wraps, outermost first (at most 8: a cycle must not loop). */
export function causeChain(err: unknown): ErrorFacts[] {
  const chain: ErrorFacts[] = [];
  for (let e: unknown = err; typeof e === 'object' && e !== null && chain.length < 8; e = (e as ErrorFacts).cause) chain.push(e as ErrorFacts);
  return chain;
}

/** The innermost cause: the driver's own error rather than a wrapper whose message is the failed query. */
export function innermostCause(err: unknown): ErrorFacts | undefined {
  const chain = causeChain(err);
  return chain[chain.length - 1];
}
