/**
 * What one alert watches: the endpoint, service or whole of the traffic a series counts towards
 * under a rule's `per`, `service` and `endpoint`; its key (one open alert per rule and subject)
 * and how a message names it.
 */
import { createHash } from 'node:crypto';
import type { SeriesIdentityKey } from '@otel-bandwidth/core';
import type { AlertRule } from './alert-rules';

/** An endpoint (all four set), a service (service only) or all traffic (none). */
export interface AlertSubject {
  service: string | null;
  method: string | null;
  endpoint: string | null;
  protocol: string | null;
}

/** The subject a series counts towards under the rule; undefined when the rule leaves it out. */
export function subjectOf(rule: AlertRule, s: SeriesIdentityKey): AlertSubject | undefined {
  if (rule.service !== undefined && s.service !== rule.service) return undefined;
  if (rule.endpoint !== undefined && s.endpoint !== rule.endpoint) return undefined;
  if (rule.per === 'endpoint') return { service: s.service, method: s.method, endpoint: s.endpoint, protocol: s.protocol };
  if (rule.per === 'service') return { service: s.service, method: null, endpoint: null, protocol: null };
  return { service: null, method: null, endpoint: null, protocol: null };
}

/** One string per subject, to group series by. */
export function subjectCode(g: AlertSubject): string {
  return JSON.stringify([g.service, g.method, g.endpoint, g.protocol]);
}

/** How a message names the subject: GET /api/x (shop), service shop, all traffic. */
export function describeSubject(g: AlertSubject): string {
  if (g.endpoint !== null) return `${g.method ?? ''} ${g.endpoint} (${g.service ?? ''})`;
  if (g.service !== null) return `service ${g.service}`;
  return 'all traffic';
}

/** An alert's key: the rule's name and what it watches, hashed to fit an indexed column. */
export function alertKey(rule: string, service: string | null, method: string | null, endpoint: string | null): string {
  return createHash('sha256').update(JSON.stringify([rule, service, method, endpoint])).digest('hex');
}
