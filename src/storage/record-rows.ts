/**
 * Row mapping and SQL shared by both drivers for the gateway's configuration records (`records`) and the
 * audit log (`audit_log`). The statements are plain SQL both SQLite and PostgreSQL accept; each driver
 * supplies its placeholder style and runs them in its own write transaction.
 *
 * A record's `version` is 1 when created and grows by one per write, so "created" is `version === 1` on both
 * stores, and a compare-and-set is `UPDATE … WHERE version = expected` (no read-then-write race between nodes).
 */
import { decodeCursor, encodeCursor } from './driver-common.js';
import type { AuditEntry, AuditPage, RecordKind, StoredRecord } from './store.js';

export interface RecordRow {
  kind: string;
  name: string;
  value: string;
  version: number | string;
  created_at: number | string;
  updated_at: number | string;
}

export interface AuditRow {
  seq: number | string;
  at: number | string;
  actor: string;
  action: string;
  target: string;
  detail: string | null;
}

export const RECORD_COLUMNS = 'kind, name, value, version, created_at, updated_at';
export const AUDIT_COLUMNS = 'seq, at, actor, action, target, detail';

/** `$n` placeholders; the SQLite driver rewrites them to `?n`. */
export const RECORD_SQL = {
  upsert: `INSERT INTO records (kind, name, value, version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4)
    ON CONFLICT (kind, name) DO UPDATE SET value = excluded.value, version = records.version + 1, updated_at = excluded.updated_at
    RETURNING ${RECORD_COLUMNS}`,
  create: `INSERT INTO records (kind, name, value, version, created_at, updated_at) VALUES ($1, $2, $3, 1, $4, $4)
    ON CONFLICT (kind, name) DO NOTHING RETURNING ${RECORD_COLUMNS}`,
  compareAndSet: `UPDATE records SET value = $3, version = version + 1, updated_at = $4 WHERE kind = $1 AND name = $2 AND version = $5
    RETURNING ${RECORD_COLUMNS}`,
  get: `SELECT ${RECORD_COLUMNS} FROM records WHERE kind = $1 AND name = $2`,
  list: `SELECT ${RECORD_COLUMNS} FROM records WHERE kind = $1 ORDER BY name`,
  delete: `DELETE FROM records WHERE kind = $1 AND name = $2`,
  auditPage: `SELECT ${AUDIT_COLUMNS} FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2`,
} as const;

export function rowToRecord(r: RecordRow): StoredRecord {
  return {
    kind: r.kind as RecordKind,
    name: r.name,
    valueJson: r.value,
    version: Number(r.version),
    createdAt: new Date(Number(r.created_at)),
    updatedAt: new Date(Number(r.updated_at)),
  };
}

export function rowToAudit(r: AuditRow): AuditEntry {
  return { seq: Number(r.seq), at: new Date(Number(r.at)), actor: r.actor, action: r.action, target: r.target, detailJson: r.detail };
}

/** The `seq` bound of an audit page: everything before the cursor's entry (newest first). */
export function auditBefore(cursor: string | null | undefined): number {
  return cursor ? decodeCursor(cursor) : Number.MAX_SAFE_INTEGER;
}

/** Rows fetched with `LIMIT limit + 1`: the page, and a cursor when there is more. */
export function auditPage(rows: readonly AuditRow[], limit: number): AuditPage {
  const entries = rows.slice(0, limit).map(rowToAudit);
  return { entries, nextCursor: rows.length > limit ? encodeCursor(entries[entries.length - 1]!.seq) : null };
}
