import { oldestUnappliedEntryId, readStreamGroup, streamIdTime, streamInfo, type StreamInfo } from '@otel-bandwidth/core';
import type { ApiContext } from './api-context';

/** A consumer idle longer than this is not counted active; a backlog older than this is a stall. */
export const STALL_AFTER_MS = 60_000;

/**
 * The pipeline as Redis sees it: the stream, the aggregators' consumer group, the dead letters
 * and the aggregators' last flush. What GET /metrics/status answers and GET /metrics exposes,
 * both from this one reading.
 */
export interface PipelineState {
  /** entries in the stream */
  streamLength: number;
  /** delivered to a consumer, not yet acknowledged */
  pending: number;
  /** not yet delivered to the group */
  lag: number;
  /** not yet applied: lag + pending */
  bufferSize: number;
  /** consumers in the group (one that stops cleanly leaves it) */
  consumers: number;
  /** consumers that read in the last STALL_AFTER_MS */
  activeConsumers: number;
  /** entries in the dead-letter stream */
  deadLetters: number;
  /** when the oldest entry no consumer of the group has applied was added (its id's time, Redis's clock); undefined when none waits */
  oldestUnappliedMs: number | undefined;
  /** when an aggregator last committed a flush (its own clock); undefined before the first */
  lastFlushMs: number | undefined;
  /** Redis's clock when read, ms; undefined when nothing above needed it */
  redisNowMs: number | undefined;
  /** why the pipeline is not healthy, one line each; none: healthy */
  problems: string[];
}

/** Reads the pipeline's state from Redis. Throws when Redis does not answer. */
export async function readPipelineState(ctx: ApiContext): Promise<PipelineState> {
  const { redis, keys } = ctx;
  const [streamLength, deadLetters, status] = await Promise.all([
    redis.xlen(keys.stream),
    redis.xlen(keys.deadLetter),
    redis.hgetall(keys.aggregatorStatus),
  ]);
  let pending = 0;
  let lag = streamLength;
  let consumers = 0;
  let activeConsumers = 0;
  let group: StreamInfo | undefined;
  if (streamLength > 0 || status.lastFlushMs) group = await readStreamGroup(redis, keys.stream, ctx.consumerGroup);
  if (group) {
    pending = Number(group.get('pending') ?? 0);
    consumers = Number(group.get('consumers') ?? 0);
    const l = group.get('lag');
    // lag is unknown to Redis after some trims/deletions: then count all but the pending
    lag = l === null || l === undefined ? Math.max(0, streamLength - pending) : Number(l);
    if (consumers > 0) {
      const list = ((await redis.xinfo('CONSUMERS', keys.stream, ctx.consumerGroup)) as Array<Array<string | number | null>>).map(streamInfo);
      activeConsumers = list.filter((c) => Number(c.get('idle') ?? Number.POSITIVE_INFINITY) < STALL_AFTER_MS).length;
    }
  }
  // the oldest entry no consumer of the group has applied yet
  const oldestId = streamLength > 0 || group !== undefined ? await oldestUnappliedEntryId(redis, keys.stream, ctx.consumerGroup, group) : undefined;
  const oldestUnappliedMs = oldestId === undefined ? undefined : streamIdTime(oldestId);
  const flushMs = Number(status.lastFlushMs);
  const lastFlushMs = Number.isFinite(flushMs) && flushMs > 0 ? flushMs : undefined;
  // ages against Redis's own clock, which made the entries' ids: the API's host may run apart from it
  let redisNowMs: number | undefined;
  if (oldestUnappliedMs !== undefined || lastFlushMs !== undefined) {
    const [seconds, micros] = await redis.time();
    redisNowMs = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  }
  const bufferSize = lag + pending;
  const state: PipelineState = { streamLength, pending, lag, bufferSize, consumers, activeConsumers, deadLetters, oldestUnappliedMs, lastFlushMs, redisNowMs, problems: [] };
  const ageMs = backlogAgeMs(state);
  if (bufferSize >= ctx.bufferWarning) state.problems.push(`${bufferSize} entries wait to be applied (a warning from ${ctx.bufferWarning} on)`);
  if (bufferSize > 0 && activeConsumers === 0) {
    state.problems.push(`no aggregator has read the stream in the last ${STALL_AFTER_MS / 1000} s: start one (otel-bandwidth aggregator)`);
  } else if (ageMs > STALL_AFTER_MS) {
    state.problems.push(`the oldest entry not yet applied is ${Math.floor(ageMs / 1000)} s old: the aggregators are behind or cannot write to MySQL (see their logs)`);
  }
  return state;
}

/** How long ago the oldest entry not yet applied was added, by Redis's clock, ms; 0 when none waits. */
export function backlogAgeMs(state: PipelineState): number {
  return state.oldestUnappliedMs === undefined || state.redisNowMs === undefined ? 0 : Math.max(0, state.redisNowMs - state.oldestUnappliedMs);
}

/** How long ago an aggregator last committed a flush, against Redis's clock, ms; undefined before the first. */
export function lastPersistAgeMs(state: PipelineState): number | undefined {
  return state.lastFlushMs === undefined || state.redisNowMs === undefined ? undefined : Math.max(0, state.redisNowMs - state.lastFlushMs);
}
