/**
 * PostgreSQL only: payload blobs live in `job_blobs`, written in the job's own transaction (also the
 * caller's, for a transactional enqueue: a rollback leaves neither), deleted with the job, and read by
 * another store (node) on the same schema.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { claimOne, declareQueue, enqueue, expectAllOk, jobInput, newClock, SECOND } from '../../helpers/store-fixtures.js';
import { bigPayloadJson } from '../suite/blobs.js';
import type { PgTestContext } from './helpers.js';

export function pgBlobSuite(t: PgTestContext): void {
  describe('payload blobs [postgres]', () => {
    async function blobRows(schema: string): Promise<string[]> {
      const { rows } = await t.admin.query<{ job_id: string }>(`SELECT job_id FROM "${schema}".job_blobs ORDER BY job_id`);
      return rows.map((r) => r.job_id);
    }

    it('a blob is a job_blobs row beside a job row that holds only the reference; another node claims it whole', async () => {
      const a = await t.open();
      const b = await t.open({ schema: a.schema });
      await declareQueue(a, 'q');
      const json = bigPayloadJson(300);
      const id = await enqueue(a, 'q', { payloadJson: json, blob: true });
      expect(await blobRows(a.schema)).toEqual([id]);
      const { rows } = await t.admin.query<{ payload: string }>(`SELECT payload FROM "${a.schema}".jobs WHERE id = $1`, [id]);
      expect(rows[0]!.payload).toBe(`@blob:${Buffer.byteLength(json)}`);
      expect((await claimOne(b, 'q')).payloadJson).toBe(json);
    });

    it('retention deletes the row with its job; a refused or replayed insert writes none', async () => {
      const clock = newClock();
      const store = await t.open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 5, deadSeconds: 5 } });
      await store.jobInsertMany({ jobs: [jobInput('nope', { payloadJson: bigPayloadJson(300), blob: true })] });
      const idempotency = { key: 'k', fingerprint: 'f' };
      const id = await enqueue(store, 'q', { payloadJson: bigPayloadJson(300), blob: true, idempotency });
      await store.jobInsertMany({ jobs: [jobInput('q', { payloadJson: bigPayloadJson(300), blob: true, idempotency })] });
      expect(await blobRows(store.schema)).toEqual([id]);
      const job = await claimOne(store, 'q');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: null }] }));
      clock.advance(6 * SECOND);
      expect(await store.jobDeleteExpired({ limit: 10 })).toBe(1);
      expect(await blobRows(store.schema)).toEqual([]);
    });

    it("transactional enqueue: the blob commits or rolls back with the caller's transaction", async () => {
      const store = await t.open();
      await declareQueue(store, 'q');
      const client = new pg.Client({ connectionString: t.databaseUrl });
      client.on('error', () => undefined);
      await client.connect();
      try {
        const committed = jobInput('q', { payloadJson: bigPayloadJson(300, 'c'), blob: true });
        await client.query('BEGIN');
        await store.jobInsertMany({ jobs: [committed], tx: client });
        await client.query('COMMIT');
        const rolledBack = jobInput('q', { payloadJson: bigPayloadJson(300, 'r'), blob: true });
        await client.query('BEGIN');
        await store.jobInsertMany({ jobs: [rolledBack], tx: client });
        await client.query('ROLLBACK');
        expect(await blobRows(store.schema)).toEqual([committed.id]);
        expect((await claimOne(store, 'q')).payloadJson).toBe(committed.payloadJson);
      } finally {
        await client.end();
      }
    });
  });
}
