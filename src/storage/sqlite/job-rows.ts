/**
 * Row ⇄ domain mapping for the SQLite jobs table, and the compact history encoding.
 *
 * History is kept in the job row as comma-joined JSON objects (`{"s":state,"t":ms,"a":attempt,"e":error,
 * "r":reason}`), appended with `history || ','…` in the same UPDATE that changes the state. That costs no
 * extra row or index write per transition (a separate history table doubled the writes of a claim/complete).
 */
import type { HistoryEntry, Job, JobError } from '../../core/job.js';
import { priorityFromTier } from '../../core/priority.js';
import type { JobState } from '../../core/states.js';

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

export function rowToJob(row: JobRow): Job {
  return {
    id: row.id,
    queue: row.queue,
    type: row.type,
    version: row.version,
    state: row.state,
    priority: priorityFromTier(row.priority),
    orderingKey: row.ordering_key,
    groupKey: row.group_key,
    correlationId: row.correlation_id,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    createdAt: new Date(row.created_at),
    runAt: new Date(row.run_at),
    startedAt: row.started_at == null ? null : new Date(row.started_at),
    finishedAt: row.finished_at == null ? null : new Date(row.finished_at),
    progress: parseOrNull(row.progress),
    result: parseOrNull(row.result),
    lastError: parseOrNull(row.last_error) as JobError | null,
    payload: JSON.parse(row.payload),
    history: decodeHistory(row.history),
  };
}
