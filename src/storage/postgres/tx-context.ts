/**
 * Per-transaction context for PostgreSQL writes: the client inside BEGIN, the clock reading, counter deltas,
 * wake-ups and gate locks. Every write helper takes one.
 *
 * Clock: `now` is read once per transaction as `coalesce($clock, <database time in ms>)`: the injected
 * ManualClock's value when the store was given a clock (time-travel tests), else the database's own
 * clock_timestamp(), so every node judges leases by one clock. Every statement then takes `now` as a parameter.
 *
 * Counters: deltas accumulate in memory and are written before COMMIT as one row per touched
 * (queue, name) into `counter_deltas` (never an UPDATE of a shared counter row, which would serialise every
 * transaction that touches a queue). The same statement sends one NOTIFY for the whole transaction when it
 * made jobs claimable.
 *
 * Gates: SQLite has a single writer; here concurrent transactions take
 * `pg_advisory_xact_lock(hashtextextended(queue ‖ kind ‖ key))` before they read or change an ordering key's
 * or a group's gate state. `lockGates` takes a set of locks in hash order, so two transactions locking
 * overlapping sets cannot deadlock on them.
 */
import { createHash } from 'node:crypto';
import type { PgClient } from './connection.js';

export type GateKind = 'o' | 'g';

export class TxContext {
  readonly client: PgClient;
  readonly now: number;
  /** queue → counter name → delta */
  readonly deltas = new Map<string, Map<string, number>>();
  /** Queues that may have new claimable jobs after this transaction commits. */
  readonly wakeQueues = new Set<string>();
  readonly #locked = new Set<string>();

  /** Use named (server-side prepared) statements: Spool's own connections only, never a caller's `tx`. */
  readonly #prepared: boolean;

  constructor(client: PgClient, now: number, options: { prepared?: boolean } = {}) {
    this.client = client;
    this.now = now;
    this.#prepared = options.prepared ?? false;
  }

  count(queue: string, name: string, delta: number): void {
    if (delta === 0) return;
    let q = this.deltas.get(queue);
    if (!q) this.deltas.set(queue, (q = new Map()));
    q.set(name, (q.get(name) ?? 0) + delta);
  }

  wake(queue: string): void {
    this.wakeQueues.add(queue);
  }

  /** Fold a savepoint's context into its transaction's after the savepoint was released. */
  mergeInto(parent: TxContext): void {
    for (const [queue, names] of this.deltas) for (const [name, d] of names) parent.count(queue, name, d);
    for (const q of this.wakeQueues) parent.wake(q);
    for (const k of this.#locked) parent.#locked.add(k);
  }

  /** A context for one operation inside this transaction's savepoint: gate locks already held are known. */
  child(): TxContext {
    const c = new TxContext(this.client, this.now, { prepared: this.#prepared });
    for (const k of this.#locked) c.#locked.add(k);
    return c;
  }

  async query<R extends object = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
    if (!this.#prepared) return (await this.client.query<R>(sql, params)).rows;
    return (await this.client.query<R>({ name: statementName(sql), text: sql, values: params })).rows;
  }

  async queryOne<R extends object = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R | undefined> {
    return (await this.query<R>(sql, params))[0];
  }

  /** Take the transaction-scoped gate locks of these keys (ones already held are skipped). */
  async lockGates(keys: ReadonlyArray<{ queue: string; kind: GateKind; key: string }>): Promise<void> {
    const wanted: string[] = [];
    for (const k of keys) {
      const text = gateLockText(k.queue, k.kind, k.key);
      if (this.#locked.has(text)) continue;
      this.#locked.add(text);
      wanted.push(text);
    }
    if (wanted.length === 0) return;
    if (wanted.length === 1) {
      await this.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [wanted[0]]);
      return;
    }
    await this.query(
      `SELECT count(pg_advisory_xact_lock(h)) FROM (
         SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY 1) AS locks`,
      [wanted],
    );
  }

  async lockGate(queue: string, kind: GateKind, key: string): Promise<void> {
    await this.lockGates([{ queue, kind, key }]);
  }

  /** Write the counter deltas (one row per touched counter) and NOTIFY once, in one statement. */
  async flush(channel: string): Promise<void> {
    const rows = this.#deltaRows();
    const payload = this.wakeQueues.size > 0 ? wakePayload([...this.wakeQueues]) : null;
    if (rows.length === 0 && payload === null) return;
    await this.query(
      `WITH d AS (
         INSERT INTO counter_deltas (queue, name, delta) SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]))
       SELECT CASE WHEN $5::text IS NOT NULL THEN pg_notify($4, $5) END`,
      [rows.map((r) => r[0]), rows.map((r) => r[1]), rows.map((r) => r[2]), channel, payload],
    );
  }

  /**
   * The same writes as flush() followed by COMMIT, as one simple-protocol query (values inlined as literals):
   * one round trip instead of two at the end of every coalesced transaction.
   */
  commitSql(channel: string): string {
    let sql = '';
    const rows = this.#deltaRows();
    if (rows.length > 0) {
      sql += `INSERT INTO counter_deltas (queue, name, delta) VALUES ${rows
        .map(([queue, name, delta]) => `(${quoteLiteral(queue)}, ${quoteLiteral(name)}, ${Math.trunc(delta)})`)
        .join(', ')}; `;
    }
    if (this.wakeQueues.size > 0) sql += `SELECT pg_notify(${quoteLiteral(channel)}, ${quoteLiteral(wakePayload([...this.wakeQueues]))}); `;
    return `${sql}COMMIT`;
  }

  #deltaRows(): Array<[string, string, number]> {
    const rows: Array<[string, string, number]> = [];
    for (const [queue, byName] of this.deltas) for (const [name, d] of byName) if (d !== 0) rows.push([queue, name, d]);
    return rows;
  }
}

/** A SQL string literal (E'' form when the text holds a backslash, so standard_conforming_strings does not matter). */
export function quoteLiteral(text: string): string {
  const quoted = text.replace(/'/g, "''");
  return text.includes('\\') ? `E'${quoted.replace(/\\/g, '\\\\')}'` : `'${quoted}'`;
}

const statementNames = new Map<string, string>();

/**
 * A stable name per SQL text, so each connection parses and plans a statement once (node-postgres prepares
 * a named statement on first use per connection). The SQL texts are a fixed set of templates.
 */
export function statementName(sql: string): string {
  let name = statementNames.get(sql);
  if (!name) {
    name = `spool_${createHash('sha1').update(sql).digest('hex').slice(0, 20)}`;
    statementNames.set(sql, name);
  }
  return name;
}

export function gateLockText(queue: string, kind: GateKind, key: string): string {
  // U+0001 separates the parts (PostgreSQL text cannot hold NUL, so chr(0) is not an option).
  return `${queue}\u0001${kind}\u0001${key}`;
}

/** NOTIFY payloads hold at most 8,000 bytes: the queue names as JSON, or '*' (unknown: wake every queue). */
export const NOTIFY_ALL = '*';
export function wakePayload(queues: readonly string[]): string {
  const text = JSON.stringify(queues);
  return Buffer.byteLength(text) <= 7900 ? text : NOTIFY_ALL;
}
