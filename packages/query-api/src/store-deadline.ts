/**
 * How long a probe of a store may take before it counts as not answering (GET /healthz, GET
 * /metrics): a frozen store must not hold a health check or a scrape for the client's own
 * timeouts (MySQL's connect timeout is 10 s, Prometheus' scrape timeout as long).
 */
export const STORE_DEADLINE_MS = 2000;

/** The work's result, or once `ms` have passed without one an ETIMEDOUT (a store that does not answer, to isUnreachableError). */
export function withinDeadline<T>(work: Promise<T>, ms = STORE_DEADLINE_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'ETIMEDOUT' })), ms);
    timer.unref();
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
