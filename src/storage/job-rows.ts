/**
 * Row ⇄ domain mapping shared by the drivers: the jobs row shape, the compact history encoding, and queue
 * config parsing. Both stores keep the same text, so Job objects read back identically.
 *
 * History is kept in the job row as comma-joined JSON objects (`{"s":state,"t":ms,"a":attempt,"e":error,
 * "r":reason}`), appended with `history || ','…` in the same UPDATE that changes the state. That costs no
 * extra row or index write per transition (a separate history table doubled the writes of a claim/complete).
 *
 * Numeric columns go through Number(): PostgreSQL rows read through a caller's `tx` client carry BIGINTs as
 * strings (Spool's own pool parses them to numbers; SQLite returns numbers).
 */
import type { HistoryEntry, Job, JobError } from '../core/job.js';
import { priorityFromTier } from '../core/priority.js';
import type { QueueConfig } from '../core/queue-config.js';
import type { JobState } from '../core/states.js';
import { blobRefBytes } from './blob-refs.js';

export interface JobRow {
  seq: number;
  id: string;
  queue: string;
  type: string | null;
  version: number;
  state: JobState;
  priority: number;
  prank: number;
  sort_at: number;
  hold: number;
  run_at: number;
  ordering_key: string | null;
  okey_seq: number | null;
  group_key: string | null;
  correlation_id: string | null;
  attempts: number;
  max_attempts: number;
  lease_ms: number | null;
  lease_token: string | null;
  lease_expires_at: number | null;
  created_at: number;
  started_at: number | null;
  finished_at: number | null;
  payload: string;
  options: string | null;
  progress: string | null;
  result: string | null;
  last_error: string | null;
  history: string;
}

export function historyEvent(
  state: JobState,
  at: number,
  attempt: number,
  extra?: { error?: JobError | null; reason?: string },
): string {
  let s = `{"s":"${state}","t":${at},"a":${attempt}`;
  if (extra?.reason) s += `,"r":${JSON.stringify(extra.reason)}`;
  if (extra?.error) s += `,"e":${JSON.stringify(extra.error)}`;
  return `${s}}`;
}

interface RawEvent {
  s: JobState;
  t: number;
  a: number;
  e?: JobError;
  r?: string;
}

export function decodeHistory(text: string): HistoryEntry[] {
  const raw = JSON.parse(`[${text}]`) as RawEvent[];
  return raw.map((e) => ({
    state: e.s,
    at: new Date(e.t),
    attempt: e.a,
    ...(e.e ? { error: e.e } : {}),
    ...(e.r ? { reason: e.r } : {}),
  }));
}

function parseOrNull(text: string | null): unknown {
  return text == null ? null : JSON.parse(text);
}

function dateOrNull(ms: number | string | null): Date | null {
  return ms == null ? null : new Date(Number(ms));
}

/** A payload stored as a blob (blob-refs.ts) reads as `payload: null` with its size in `payloadBytes`. */
export function rowToJob(row: JobRow): Job {
  const blobBytes = blobRefBytes(row.payload);
  return {
    id: row.id,
    queue: row.queue,
    type: row.type,
    version: Number(row.version),
    state: row.state,
    priority: priorityFromTier(Number(row.priority)),
    orderingKey: row.ordering_key,
    groupKey: row.group_key,
    correlationId: row.correlation_id,
    attempts: Number(row.attempts),
    maxAttempts: Number(row.max_attempts),
    createdAt: new Date(Number(row.created_at)),
    runAt: new Date(Number(row.run_at)),
    startedAt: dateOrNull(row.started_at),
    finishedAt: dateOrNull(row.finished_at),
    progress: parseOrNull(row.progress),
    result: parseOrNull(row.result),
    lastError: parseOrNull(row.last_error) as JobError | null,
    payload: blobBytes === null ? JSON.parse(row.payload) : null,
    payloadBytes: blobBytes,
    history: decodeHistory(row.history),
  };
}

const parsed = new Map<string, QueueConfig>();

/** Queue configs are read inside most writes: parse each distinct text once. */
export function parseConfig(text: string): QueueConfig {
  let c = parsed.get(text);
  if (!c) {
    c = JSON.parse(text) as QueueConfig;
    if (parsed.size > 1000) parsed.clear();
    parsed.set(text, c);
  }
  return c;
}
