/**
 * Configuration records and the audit log on SQLite: the shared statements of src/storage/record-rows.ts with
 * `$n` rewritten to SQLite's `?n`. Writes run inside the write coalescer's transaction (`ctx.conn`).
 */
import { auditBefore, auditPage, RECORD_SQL, rowToRecord, type AuditRow, type RecordRow } from '../record-rows.js';
import type { AuditEntryInput, AuditPage, RecordKind, RecordPutParams, RecordPutResult, StoredRecord } from '../store.js';
import type { Conn } from './connection.js';

const sql = (text: string): string => text.replace(/\$(\d+)/g, '?$1');
/** better-sqlite3 binds `?n` parameters by name: { 1: …, 2: … }. */
const args = (...values: unknown[]): Record<number, unknown> => Object.fromEntries(values.map((v, i) => [i + 1, v]));
const S = Object.fromEntries(Object.entries(RECORD_SQL).map(([k, v]) => [k, sql(v)])) as Record<keyof typeof RECORD_SQL, string>;

export function recordPut(conn: Conn, now: number, p: RecordPutParams): RecordPutResult {
  let row: RecordRow | undefined;
  if (p.expectVersion === undefined) row = conn.stmt(S.upsert).get(args(p.kind, p.name, p.valueJson, now)) as RecordRow;
  else if (p.expectVersion === null) row = conn.stmt(S.create).get(args(p.kind, p.name, p.valueJson, now)) as RecordRow | undefined;
  else row = conn.stmt(S.compareAndSet).get(args(p.kind, p.name, p.valueJson, now, p.expectVersion)) as RecordRow | undefined;
  if (!row) return { ok: false, created: false, record: recordGet(conn, p.kind, p.name) };
  const record = rowToRecord(row);
  return { ok: true, created: record.version === 1, record };
}

export function recordGet(conn: Conn, kind: RecordKind, name: string): StoredRecord | null {
  const row = conn.stmt(S.get).get(args(kind, name)) as RecordRow | undefined;
  return row ? rowToRecord(row) : null;
}

export function recordList(conn: Conn, kind: RecordKind): StoredRecord[] {
  return (conn.stmt(S.list).all(args(kind)) as RecordRow[]).map(rowToRecord);
}

export function recordDelete(conn: Conn, kind: RecordKind, name: string): boolean {
  return conn.stmt(S.delete).run(args(kind, name)).changes > 0;
}

export function auditAppend(conn: Conn, now: number, entries: readonly AuditEntryInput[]): void {
  const insert = conn.stmt('INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)');
  for (const e of entries) insert.run(now, e.actor, e.action, e.target, e.detailJson);
}

export function auditList(conn: Conn, limit: number, cursor: string | null | undefined): AuditPage {
  return auditPage(conn.stmt(S.auditPage).all(args(auditBefore(cursor), limit + 1)) as AuditRow[], limit);
}
