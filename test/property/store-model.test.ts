/**
 * Model-based property test of the store seam against a real SQLite file. Random command sequences
 * (enqueue, claim, complete, fail, release, extend, clock travel + lease reaping, cancel, replay, promote)
 * run against the store and against an in-memory model written here from the README's state machine — not
 * from src/core/states.ts. After every command: no accepted job is lost, the store agrees with the model
 * (state, attempts, history, lease, counters, which jobs a claim takes — ordering keys included: only the
 * head of a key runs), each job holds at most one lease and only the newest token
 * can write, history follows this file's legal-transition list, and attempts only go down through replay
 * (to 0) or release (the attempt is given back).
 */
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ManualClock } from '../../src/core/clock.js';
import type { Job } from '../../src/core/job.js';
import { openStore } from '../../src/storage/open-store.js';
import type { SqliteStore } from '../../src/storage/sqlite/sqlite-store.js';
import type { Store } from '../../src/storage/store.js';
import { declareQueue, failParams, jobInput, newClock, SECOND } from '../helpers/store-fixtures.js';

// ── the model ─────────────────────────────────────────────────────────────────────────────────────────────

type State = 'scheduled' | 'queued' | 'active' | 'retrying' | 'completed' | 'dead' | 'cancelled';
const STATES: readonly State[] = ['scheduled', 'queued', 'active', 'retrying', 'completed', 'dead', 'cancelled'];

/** The legal edges, written down from the README's diagram. */
const LEGAL_EDGES = new Set([
  'scheduled>queued', // due
  'scheduled>cancelled',
  'queued>active', // claim
  'queued>cancelled',
  'active>completed',
  'active>retrying', // fail with attempts left, lease expired
  'active>dead', // last attempt, non-retryable
  'active>queued', // release (graceful shutdown)
  'retrying>queued', // due
  'retrying>cancelled',
  'dead>queued', // replay
]);
const INITIAL: ReadonlySet<State> = new Set(['scheduled', 'queued']);
const CANCELLABLE: ReadonlySet<State> = new Set(['scheduled', 'queued', 'retrying']);
const LIVE: ReadonlySet<State> = new Set(['scheduled', 'queued', 'active', 'retrying']);

interface Step {
  readonly state: State;
  readonly attempt: number;
  readonly reason?: string;
}

interface ModelJob {
  readonly id: string;
  readonly seq: number;
  readonly orderingKey: string | null;
  /** Place in its ordering key's line: enqueue order, and the end of the line again after a replay. */
  okeySeq: number;
  readonly maxAttempts: number;
  state: State;
  attempts: number;
  runAt: number;
  /** When it last became runnable (claim order among equal priorities), set on entering `queued`. */
  runnableAt: number;
  token: string | null;
  leaseExpiresAt: number | null;
  readonly trail: Step[];
}

class Model {
  readonly jobs: ModelJob[] = [];
  readonly byId = new Map<string, ModelJob>();
  /** Every (job, token) ever handed out, in order; older ones are stale. */
  readonly handles: Array<{ id: string; leaseToken: string }> = [];
  readonly tokens = new Set<string>();
  #okeySeq = 0;

  nextOkeySeq(): number {
    return ++this.#okeySeq;
  }

  add(id: string, state: State, runAt: number, maxAttempts: number, orderingKey: string | null): void {
    const job: ModelJob = {
      id,
      seq: this.jobs.length,
      orderingKey,
      okeySeq: orderingKey == null ? 0 : this.nextOkeySeq(),
      maxAttempts,
      state,
      attempts: 0,
      runAt,
      runnableAt: runAt,
      token: null,
      leaseExpiresAt: null,
      trail: [{ state, attempt: 0 }],
    };
    this.jobs.push(job);
    this.byId.set(id, job);
  }

  move(job: ModelJob, to: State, attempt: number, reason?: string): void {
    job.state = to;
    job.attempts = attempt;
    job.trail.push(reason ? { state: to, attempt, reason } : { state: to, attempt });
    if (to !== 'active') {
      job.token = null;
      job.leaseExpiresAt = null;
    }
  }

  holds(id: string, token: string): boolean {
    const job = this.byId.get(id);
    return !!job && job.state === 'active' && job.token === token;
  }

  /**
   * The head of an ordering key: its live (scheduled, queued, active, retrying) job earliest in line. Only
   * the head may run (ordering.onDead = continue: a dead job is not live and does not hold the key).
   */
  isHead(job: ModelJob): boolean {
    if (job.orderingKey == null) return true;
    const live = this.jobs.filter((j) => j.orderingKey === job.orderingKey && LIVE.has(j.state));
    return live.every((j) => j.okeySeq >= job.okeySeq);
  }

  /** Queued heads in claim order: all normal priority, so (became runnable, enqueue order). */
  claimable(): ModelJob[] {
    return this.jobs.filter((j) => j.state === 'queued' && this.isHead(j)).sort((a, b) => a.runnableAt - b.runnableAt || a.seq - b.seq);
  }

  counts(): Record<State, number> {
    const c = Object.fromEntries(STATES.map((s) => [s, 0])) as Record<State, number>;
    for (const j of this.jobs) c[j.state]++;
    return c;
  }
}

// ── commands ──────────────────────────────────────────────────────────────────────────────────────────────

type Command =
  | { k: 'enqueue'; delayMs: number; maxAttempts: number; orderingKey: string | null }
  | { k: 'claim'; max: number; leaseMs: number }
  | { k: 'complete'; h: number; pick: TokenPick }
  | { k: 'fail'; h: number; pick: TokenPick; to: 'retrying' | 'dead'; delayMs: number }
  | { k: 'release'; h: number; pick: TokenPick }
  | { k: 'extend'; h: number; pick: TokenPick; leaseMs: number }
  | { k: 'advance'; ms: number; retryDelayMs: number }
  | { k: 'cancel'; j: number }
  | { k: 'replay'; j: number; all: boolean }
  | { k: 'promote' };

/** Which token a fenced write uses: a live lease's (usually), any token ever handed out (often stale), or a forged one. */
const handle = { h: fc.nat(), pick: fc.constantFrom('live' as const, 'live' as const, 'live' as const, 'any' as const, 'forged' as const) };
type TokenPick = 'live' | 'any' | 'forged';
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('enqueue' as const), delayMs: fc.constantFrom(0, 0, 5 * SECOND, 20 * SECOND), maxAttempts: fc.integer({ min: 1, max: 3 }), orderingKey: fc.constantFrom(null, null, 'a', 'b') }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('claim' as const), max: fc.integer({ min: 1, max: 3 }), leaseMs: fc.constantFrom(5 * SECOND, 15 * SECOND) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('complete' as const), ...handle }) },
  {
    weight: 3,
    arbitrary: fc.record({ k: fc.constant('fail' as const), ...handle, to: fc.constantFrom('retrying' as const, 'dead' as const), delayMs: fc.constantFrom(0, 3 * SECOND, 10 * SECOND) }),
  },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('release' as const), ...handle }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('extend' as const), ...handle, leaseMs: fc.constantFrom(5 * SECOND, 20 * SECOND) }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 25 * SECOND }), retryDelayMs: fc.constantFrom(0, 4 * SECOND) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('cancel' as const), j: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('replay' as const), j: fc.nat(), all: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('promote' as const) }) },
);

// ── running one sequence ──────────────────────────────────────────────────────────────────────────────────

const QUEUE = 'q';
const FORGED_TOKEN = 'forged-token';

let dir = '';
let runNo = 0;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'spool-property-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

function pickHandle(model: Model, c: { h: number; pick: TokenPick }): { id: string; leaseToken: string } | null {
  const live = model.jobs.filter((j) => j.state === 'active').map((j) => ({ id: j.id, leaseToken: j.token! }));
  const from = c.pick === 'live' && live.length > 0 ? live : model.handles;
  if (from.length === 0) return null;
  const chosen = from[c.h % from.length]!;
  return c.pick === 'forged' ? { id: chosen.id, leaseToken: FORGED_TOKEN } : chosen;
}

async function getOne(store: Store, id: string): Promise<Job> {
  const [job] = await store.jobGetMany({ ids: [id] });
  if (!job) throw new Error(`job ${id} lost`);
  return job;
}

/** A fenced write the model says must fail: it reports ok:false with the current state and writes nothing. */
async function expectNoWrite<R extends { ok: boolean }>(store: Store, model: Model, id: string, write: () => Promise<R>): Promise<R> {
  const before = await getOne(store, id);
  const result = await write();
  expect(result.ok, `stale write on ${id} (${before.state}) was applied`).toBe(false);
  expect(await getOne(store, id)).toEqual(before);
  if ('state' in result) expect(result.state).toBe(model.byId.get(id)!.state);
  return result;
}

async function apply(store: Store, model: Model, clock: ManualClock, cmd: Command): Promise<void> {
  const now = clock.now();
  switch (cmd.k) {
    case 'enqueue': {
      const input = jobInput(QUEUE, { delayMs: cmd.delayMs, maxAttempts: cmd.maxAttempts, orderingKey: cmd.orderingKey });
      const [result] = await store.jobInsertMany({ jobs: [input] });
      const expected: State = cmd.delayMs > 0 ? 'scheduled' : 'queued';
      expect(result).toMatchObject({ ok: true, replayed: false, receipt: { id: input.id, state: expected } });
      model.add(input.id, expected, now + cmd.delayMs, cmd.maxAttempts, cmd.orderingKey);
      return;
    }
    case 'claim': {
      const expected = model.claimable().slice(0, cmd.max);
      const claimed = await store.jobClaimMany({ queue: QUEUE, max: cmd.max, leaseMs: cmd.leaseMs, workerId: 'prop' });
      expect(claimed.map((c) => c.id)).toEqual(expected.map((j) => j.id));
      for (const c of claimed) {
        const job = model.byId.get(c.id)!;
        // Claimed only from queued, i.e. with no lease outstanding; and a token never seen before.
        expect(job.token).toBeNull();
        expect(model.tokens.has(c.leaseToken)).toBe(false);
        expect(c.attempt).toBe(job.attempts + 1);
        expect(c.leaseExpiresAt).toBe(now + cmd.leaseMs);
        model.move(job, 'active', job.attempts + 1);
        job.token = c.leaseToken;
        job.leaseExpiresAt = now + cmd.leaseMs;
        model.tokens.add(c.leaseToken);
        model.handles.push({ id: c.id, leaseToken: c.leaseToken });
      }
      return;
    }
    case 'complete': {
      const h = pickHandle(model, cmd);
      if (!h) return;
      const write = () => store.jobCompleteMany({ jobs: [{ id: h.id, leaseToken: h.leaseToken, resultJson: '1' }] }).then((r) => r[0]!);
      if (!model.holds(h.id, h.leaseToken)) return void (await expectNoWrite(store, model, h.id, write));
      expect(await write()).toEqual({ ok: true });
      const job = model.byId.get(h.id)!;
      model.move(job, 'completed', job.attempts);
      return;
    }
    case 'fail': {
      const h = pickHandle(model, cmd);
      if (!h) return;
      const write = () => store.jobFailMany({ jobs: [failParams(h, cmd.to, { delayMs: cmd.delayMs })] }).then((r) => r[0]!);
      if (!model.holds(h.id, h.leaseToken)) return void (await expectNoWrite(store, model, h.id, write));
      expect(await write()).toEqual({ ok: true });
      const job = model.byId.get(h.id)!;
      model.move(job, cmd.to, job.attempts, 'fail');
      if (cmd.to === 'retrying') job.runAt = now + cmd.delayMs;
      return;
    }
    case 'release': {
      const h = pickHandle(model, cmd);
      if (!h) return;
      const write = () => store.jobReleaseMany({ jobs: [h] }).then((r) => r[0]!);
      if (!model.holds(h.id, h.leaseToken)) return void (await expectNoWrite(store, model, h.id, write));
      expect(await write()).toEqual({ ok: true });
      const job = model.byId.get(h.id)!;
      model.move(job, 'queued', job.attempts - 1, 'release');
      return;
    }
    case 'extend': {
      const h = pickHandle(model, cmd);
      if (!h) return;
      const write = () => store.jobExtendMany({ jobs: [{ ...h, leaseMs: cmd.leaseMs }] }).then((r) => r[0]!);
      if (!model.holds(h.id, h.leaseToken)) {
        expect(await expectNoWrite(store, model, h.id, write)).toEqual({ ok: false, leaseExpiresAt: null });
        return;
      }
      // Never earlier than the lease already expires (a shorter extension keeps the expiry).
      const expiresAt = Math.max(model.byId.get(h.id)!.leaseExpiresAt!, now + cmd.leaseMs);
      expect(await write()).toEqual({ ok: true, leaseExpiresAt: expiresAt });
      model.byId.get(h.id)!.leaseExpiresAt = expiresAt;
      return;
    }
    case 'advance': {
      const clockAt = now + cmd.ms;
      clock.advance(cmd.ms);
      const expected = model.jobs.filter((j) => j.state === 'active' && j.leaseExpiresAt! < clockAt);
      const expired = await store.jobExpiredLeaseList({ limit: 1000 });
      expect(expired.map((e) => e.id).sort()).toEqual(expected.map((j) => j.id).sort());
      for (const e of expired) {
        const job = model.byId.get(e.id)!;
        expect(e.leaseToken).toBe(job.token);
        expect(e.attempt).toBe(job.attempts);
        expect(e.maxAttempts).toBe(job.maxAttempts);
      }
      const jobs = expired.map((e) =>
        failParams({ id: e.id, leaseToken: e.leaseToken }, e.attempt >= e.maxAttempts ? 'dead' : 'retrying', { delayMs: cmd.retryDelayMs, reason: 'lease-expired' }),
      );
      const results = await store.jobFailMany({ jobs });
      expect(results.every((r) => r.ok)).toBe(true);
      for (const j of jobs) {
        const job = model.byId.get(j.id)!;
        model.move(job, j.to, job.attempts, 'lease-expired');
        if (j.to === 'retrying') job.runAt = clockAt + cmd.retryDelayMs;
      }
      return;
    }
    case 'cancel': {
      if (model.jobs.length === 0) return;
      const job = model.jobs[cmd.j % model.jobs.length]!;
      const ok = CANCELLABLE.has(job.state);
      const [result] = await store.jobCancelMany({ ids: [job.id] });
      expect(result).toEqual({ id: job.id, ok, state: ok ? 'cancelled' : job.state });
      if (ok) model.move(job, 'cancelled', job.attempts, 'cancel');
      return;
    }
    case 'replay': {
      const targets = cmd.all ? model.jobs.filter((j) => j.state === 'dead') : model.jobs.length ? [model.jobs[cmd.j % model.jobs.length]!] : [];
      if (!cmd.all && targets.length === 0) return;
      const dead = targets.filter((j) => j.state === 'dead');
      const result = await store.jobReplayDead(cmd.all ? { queue: QUEUE, all: true } : { queue: QUEUE, ids: targets.map((j) => j.id) });
      expect(result.count).toBe(dead.length);
      expect([...result.ids].sort()).toEqual(dead.map((j) => j.id).sort());
      for (const job of dead) {
        model.move(job, 'queued', 0, 'replay');
        job.runAt = now;
        job.runnableAt = now;
        if (job.orderingKey != null) job.okeySeq = model.nextOkeySeq();
      }
      return;
    }
    case 'promote': {
      const due = model.jobs.filter((j) => (j.state === 'scheduled' || j.state === 'retrying') && j.runAt <= now);
      const result = await store.jobPromoteDue({ limit: 1000 });
      expect(result.count).toBe(due.length);
      for (const job of due) {
        model.move(job, 'queued', job.attempts, 'due');
        job.runnableAt = job.runAt;
      }
      return;
    }
  }
}

interface LeaseRow {
  id: string;
  state: string;
  lease_token: string | null;
  lease_expires_at: number | null;
}

/** The invariants, checked after every command. */
async function checkInvariants(store: SqliteStore, model: Model, previousAttempts: Map<string, number>, cmd: Command): Promise<void> {
  const ids = model.jobs.map((j) => j.id);
  const stored = await store.jobGetMany({ ids });
  // No job lost: every accepted id still exists.
  expect(stored.map((j) => j.id)).toEqual(ids);

  const leases = new Map(
    (store.database.prepare('SELECT id, state, lease_token, lease_expires_at FROM jobs').all() as LeaseRow[]).map((r) => [r.id, r]),
  );
  expect(leases.size).toBe(ids.length);

  for (const job of stored) {
    const m = model.byId.get(job.id)!;
    expect({ id: job.id, state: job.state, attempts: job.attempts }).toEqual({ id: m.id, state: m.state, attempts: m.attempts });

    // One lease at most, held only while active, and it is the newest token handed out for the job.
    const lease = leases.get(job.id)!;
    if (m.state === 'active') {
      expect(lease.lease_token).toBe(m.token);
      expect(lease.lease_expires_at).toBe(m.leaseExpiresAt);
    } else {
      expect(lease.lease_token).toBeNull();
    }

    // History: starts in an initial state, every step is a legal edge, and it is exactly the model's trail.
    const steps = job.history.map((h) => ({ state: h.state, attempt: h.attempt, ...(h.reason ? { reason: h.reason } : {}) }));
    expect(INITIAL.has(steps[0]!.state as State)).toBe(true);
    for (let i = 1; i < steps.length; i++) {
      const edge = `${steps[i - 1]!.state}>${steps[i]!.state}`;
      expect(LEGAL_EDGES.has(edge), `illegal transition ${edge} in ${job.id}`).toBe(true);
      // Attempts go down only through replay (to 0) or release (the claimed attempt given back).
      if (steps[i]!.attempt < steps[i - 1]!.attempt) {
        const s = steps[i]!;
        const replay = s.reason === 'replay' && s.attempt === 0 && steps[i - 1]!.state === 'dead';
        const release = s.reason === 'release' && s.attempt === steps[i - 1]!.attempt - 1 && steps[i - 1]!.state === 'active';
        expect(replay || release, `attempts went down in ${edge} of ${job.id}`).toBe(true);
      }
    }
    expect(steps).toEqual(m.trail);

    const before = previousAttempts.get(job.id);
    if (before !== undefined && job.attempts < before) expect(['replay', 'release']).toContain(cmd.k);
    previousAttempts.set(job.id, job.attempts);
  }

  // The maintained counters agree with the model.
  const [stats] = await store.queueStatsGet({ queues: [QUEUE] });
  expect(stats?.counts).toEqual(model.counts());
}

async function runSequence(commands: readonly Command[]): Promise<void> {
  const clock = newClock();
  const store = (await openStore(`sqlite:${join(dir, `model-${++runNo}.db`)}`, { clock })) as SqliteStore;
  try {
    await declareQueue(store, QUEUE, { maxAttempts: 3 });
    const model = new Model();
    const previousAttempts = new Map<string, number>();
    for (const cmd of commands) {
      await apply(store, model, clock, cmd);
      await checkInvariants(store, model, previousAttempts, cmd);
    }
  } finally {
    await store.close();
  }
}

/** 60 runs (a few seconds) by default; SPOOL_PROPERTY_RUNS=2000 for a longer hunt. */
const RUNS = Number(process.env.SPOOL_PROPERTY_RUNS ?? 60);

describe('store against an independent model (SQLite)', () => {
  it('random command sequences keep every invariant', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(commandArb, { minLength: 10, maxLength: 80, size: 'max' }), (commands) => runSequence(commands)),
      { numRuns: RUNS },
    );
  }, Math.max(120_000, RUNS * 500));
});
