/**
 * The job state machine. Every legal transition is in TRANSITIONS below and nowhere else; stores enforce
 * the same edges with compare-and-set SQL (the expected "from" state is part of every UPDATE's WHERE).
 *
 *   scheduled ──due──▶ queued ──claim──▶ active ──complete──▶ completed
 *       │                 ▲  │              │ ├──fail (attempts left) / lease expired──▶ retrying ──due──▶ queued
 *       │                 │  │              │ ├──fail (final or non-retryable)─────────▶ dead ──replay──▶ queued
 *       │                 │  │              │ └──release (shutdown, not an attempt)────▶ queued
 *       └──cancel─────────┴──┴──cancel──▶ cancelled ◀──cancel── retrying
 *
 * Cancelling running work is not part of v1: `active` cannot be cancelled.
 */

export const JOB_STATES = ['scheduled', 'queued', 'active', 'retrying', 'completed', 'dead', 'cancelled'] as const;
export type JobState = (typeof JOB_STATES)[number];

/** Why a transition happened; recorded in the job's history. */
export type TransitionCause =
  | 'enqueue'
  | 'due'
  | 'claim'
  | 'complete'
  | 'fail'
  | 'lease-expired'
  | 'timeout'
  | 'release'
  | 'cancel'
  | 'replay';

export interface Transition {
  readonly from: JobState;
  readonly to: JobState;
  readonly cause: TransitionCause;
}

/** The one table of legal transitions. */
export const TRANSITIONS: readonly Transition[] = [
  { from: 'scheduled', to: 'queued', cause: 'due' },
  { from: 'scheduled', to: 'cancelled', cause: 'cancel' },
  { from: 'queued', to: 'active', cause: 'claim' },
  { from: 'queued', to: 'cancelled', cause: 'cancel' },
  { from: 'active', to: 'completed', cause: 'complete' },
  { from: 'active', to: 'retrying', cause: 'fail' },
  { from: 'active', to: 'retrying', cause: 'lease-expired' },
  { from: 'active', to: 'retrying', cause: 'timeout' },
  { from: 'active', to: 'dead', cause: 'fail' },
  { from: 'active', to: 'dead', cause: 'lease-expired' },
  { from: 'active', to: 'dead', cause: 'timeout' },
  { from: 'active', to: 'queued', cause: 'release' },
  { from: 'retrying', to: 'queued', cause: 'due' },
  { from: 'retrying', to: 'cancelled', cause: 'cancel' },
  { from: 'dead', to: 'queued', cause: 'replay' },
];

const LEGAL = new Set(TRANSITIONS.map((t) => `${t.from}>${t.to}`));

export function isLegalTransition(from: JobState, to: JobState): boolean {
  return LEGAL.has(`${from}>${to}`);
}

/** States a job can be in when `enqueue` creates it. */
export const INITIAL_STATES: readonly JobState[] = ['scheduled', 'queued'];

export const TERMINAL_STATES: readonly JobState[] = ['completed', 'dead', 'cancelled'];

/** Waiting states: the job is not running and may still run. */
export const WAITING_STATES: readonly JobState[] = ['scheduled', 'queued', 'retrying'];

/** States from which `cancel` succeeds. */
export const CANCELLABLE_STATES: readonly JobState[] = TRANSITIONS.filter((t) => t.to === 'cancelled').map((t) => t.from);

export function isTerminal(state: JobState): boolean {
  return state === 'completed' || state === 'dead' || state === 'cancelled';
}

export function isJobState(value: unknown): value is JobState {
  return typeof value === 'string' && (JOB_STATES as readonly string[]).includes(value);
}
