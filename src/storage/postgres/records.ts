/**
 * Configuration records and the audit log on PostgreSQL: the shared statements of src/storage/record-rows.ts.
 * Writes run in the write coalescer's transaction; every write is one statement (an upsert, an insert that
 * does nothing on conflict, or an UPDATE fenced by version), so concurrent nodes never lose an update.
 */
import { RECORD_SQL, rowToRecord, type RecordRow } from '../record-rows.js';
import type { AuditEntryInput, RecordPutParams, RecordPutResult } from '../store.js';
import type { TxContext } from './tx-context.js';

export async function recordPut(ctx: TxContext, p: RecordPutParams): Promise<RecordPutResult> {
  let rows: RecordRow[];
  if (p.expectVersion === undefined) rows = await ctx.query<RecordRow>(RECORD_SQL.upsert, [p.kind, p.name, p.valueJson, ctx.now]);
  else if (p.expectVersion === null) rows = await ctx.query<RecordRow>(RECORD_SQL.create, [p.kind, p.name, p.valueJson, ctx.now]);
  else rows = await ctx.query<RecordRow>(RECORD_SQL.compareAndSet, [p.kind, p.name, p.valueJson, ctx.now, p.expectVersion]);
  const row = rows[0];
  if (!row) {
    const [current] = await ctx.query<RecordRow>(RECORD_SQL.get, [p.kind, p.name]);
    return { ok: false, created: false, record: current ? rowToRecord(current) : null };
  }
  const record = rowToRecord(row);
  return { ok: true, created: record.version === 1, record };
}

export async function recordDelete(ctx: TxContext, kind: string, name: string): Promise<boolean> {
  return (await ctx.query(`${RECORD_SQL.delete} RETURNING 1`, [kind, name])).length > 0;
}

export async function auditAppend(ctx: TxContext, entries: readonly AuditEntryInput[]): Promise<void> {
  if (entries.length === 0) return;
  await ctx.query(
    `INSERT INTO audit_log (at, actor, action, target, detail)
     SELECT $1, actor, action, target, detail FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS u(actor, action, target, detail)`,
    [ctx.now, entries.map((e) => e.actor), entries.map((e) => e.action), entries.map((e) => e.target), entries.map((e) => e.detailJson)],
  );
}
