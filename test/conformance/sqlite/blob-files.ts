/**
 * SQLite only: payload blobs are files beside the database (`<db>.blobs/<job id>`), durable before the job
 * commits; the job row holds only the reference; retention and purge unlink the file; a file no job
 * references (a crash between the blob and its job) is never served and is swept once older than the age
 * limit, with stale temporary files; a transactional enqueue writes its blob too, and a rollback leaves an
 * orphan for the sweep.
 */
import { existsSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SqliteDriver } from '../../../src/storage/sqlite/driver.js';
import { describe, expect, it } from 'vitest';
import type { ManualClock } from '../../../src/core/clock.js';
import { uuidv7 } from '../../../src/core/ids.js';
import { configureSqliteConnection } from '../../../src/storage/open-store.js';
import type { SqliteStore } from '../../../src/storage/sqlite/sqlite-store.js';
import { claimOne, declareQueue, enqueue, expectAllOk, jobInput, newClock, SECOND } from '../../helpers/store-fixtures.js';
import { bigPayloadJson } from '../suite/blobs.js';

const HOUR = 3600_000;

function backdate(file: string, ms: number): void {
  const t = new Date(Date.now() - ms);
  utimesSync(file, t, t);
}

export function blobFilesSuite(open: (opts?: { clock?: ManualClock }) => Promise<SqliteStore>): void {
  describe('payload blob files [sqlite]', () => {
    it('the blob is a file beside the database with the exact bytes; the row holds only the reference', async () => {
      const store = await open();
      await declareQueue(store, 'q');
      const json = bigPayloadJson(300);
      const id = await enqueue(store, 'q', { payloadJson: json, blob: true });
      expect(store.blobDir).toBe(`${store.path}.blobs`);
      expect(readFileSync(join(store.blobDir!, id), 'utf8')).toBe(json);
      expect(readdirSync(store.blobDir!)).toEqual([id]); // no temporary file left
      const row = store.database.prepare('SELECT payload FROM jobs WHERE id = ?').get(id) as { payload: string };
      expect(row.payload).toBe(`@blob:${Buffer.byteLength(json)}`);
    });

    it('a blob whose insert made no job (undeclared queue, idempotent replay) is deleted at once', async () => {
      const store = await open();
      await declareQueue(store, 'q');
      const refused = jobInput('nope', { payloadJson: bigPayloadJson(300), blob: true });
      await store.jobInsertMany({ jobs: [refused] });
      const idempotency = { key: 'k', fingerprint: 'f' };
      const first = jobInput('q', { payloadJson: bigPayloadJson(300), blob: true, idempotency });
      const replay = jobInput('q', { payloadJson: bigPayloadJson(300), blob: true, idempotency });
      await store.jobInsertMany({ jobs: [first] });
      const [r] = await store.jobInsertMany({ jobs: [replay] });
      expect(r).toMatchObject({ ok: true, replayed: true });
      expect(readdirSync(store.blobDir!)).toEqual([first.id]);
    });

    it('retention and purge unlink the files (after their deletion commits)', async () => {
      const clock = newClock();
      const store = await open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 5, deadSeconds: 3600 } });
      const done = await enqueue(store, 'q', { payloadJson: bigPayloadJson(300), blob: true });
      const job = await claimOne(store, 'q');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id: done, leaseToken: job.leaseToken, resultJson: null }] }));
      const dead = await enqueue(store, 'q', { payloadJson: bigPayloadJson(300), blob: true });
      const d = await claimOne(store, 'q');
      expectAllOk(await store.jobFailMany({ jobs: [{ id: dead, leaseToken: d.leaseToken, to: 'dead', retryDelayMs: 0, error: { message: 'x' }, reason: 'fail' }] }));
      expect(readdirSync(store.blobDir!).sort()).toEqual([done, dead].sort());
      clock.advance(6 * SECOND);
      expect(await store.jobDeleteExpired({ limit: 10 })).toBe(1);
      expect(existsSync(join(store.blobDir!, done))).toBe(false);
      expect(await store.jobDeleteDead({ queue: 'q', id: dead })).toBe(true);
      expect(readdirSync(store.blobDir!)).toEqual([]);
    });

    it('a crash between blob and job: the orphan is never served and is swept once older than the limit', async () => {
      const store = await open();
      await declareQueue(store, 'q');
      const kept = await enqueue(store, 'q', { payloadJson: bigPayloadJson(300), blob: true });
      // What a crash after the blob's fsync and before its job's commit leaves: a file named like a job id.
      const orphan = uuidv7();
      writeFileSync(join(store.blobDir!, orphan), bigPayloadJson(300, 'orphan'));
      const fresh = uuidv7();
      writeFileSync(join(store.blobDir!, fresh), '"fresh"');
      const temp = join(store.blobDir!, `.${uuidv7()}.0a1b2c.tmp`);
      writeFileSync(temp, 'half a blob');
      const foreign = join(store.blobDir!, 'README.txt.bak');
      writeFileSync(foreign, 'not ours');
      for (const f of [join(store.blobDir!, orphan), temp, join(store.blobDir!, kept), foreign]) backdate(f, 2 * HOUR);

      // Never served: there is no job to reach it through.
      expect(await store.jobPayloadGet({ id: orphan })).toBeNull();
      expect(await store.jobGetMany({ ids: [orphan] })).toEqual([]);

      expect(await store.blobDeleteOrphans({ olderThanMs: HOUR, limit: 100 })).toBe(2); // the orphan and the temp file
      expect(readdirSync(store.blobDir!).sort()).toEqual([kept, fresh, 'README.txt.bak'].sort());
      expect(await store.blobDeleteOrphans({ olderThanMs: HOUR, limit: 100 })).toBe(0);
      expect((await claimOne(store, 'q')).payloadJson).toBe(bigPayloadJson(300));
    });

    it('a job whose blob file was deleted by hand goes to the DLQ when claimed instead of running without its payload', async () => {
      const store = await open();
      await declareQueue(store, 'q');
      const lost = await enqueue(store, 'q', { payloadJson: bigPayloadJson(300), blob: true });
      const fine = await enqueue(store, 'q', { payloadJson: '"ok"' });
      writeFileSync(join(store.blobDir!, lost), '"short"');
      const claimed = await store.jobClaimMany({ queue: 'q', max: 5, leaseMs: 30_000, workerId: 'w' });
      expect(claimed.map((c) => c.id)).toEqual([fine]);
      const [job] = await store.jobGetMany({ ids: [lost] });
      expect(job).toMatchObject({ state: 'dead', lastError: { name: 'PayloadBlobError', retryable: false } });
    });

    it('transactional enqueue writes the blob before the caller commits; a rollback leaves an orphan for the sweep', async () => {
      const store = await open();
      await declareQueue(store, 'q');
      const db = new SqliteDriver(store.path);
      try {
        configureSqliteConnection(db);
        const committed = jobInput('q', { payloadJson: bigPayloadJson(300, 'tx'), blob: true });
        db.exec('BEGIN IMMEDIATE');
        await store.jobInsertMany({ jobs: [committed], tx: db });
        expect(existsSync(join(store.blobDir!, committed.id))).toBe(true);
        db.exec('COMMIT');
        expect((await claimOne(store, 'q')).payloadJson).toBe(committed.payloadJson);

        const rolledBack = jobInput('q', { payloadJson: bigPayloadJson(300, 'rb'), blob: true });
        db.exec('BEGIN IMMEDIATE');
        await store.jobInsertMany({ jobs: [rolledBack], tx: db });
        db.exec('ROLLBACK');
        expect(await store.jobPayloadGet({ id: rolledBack.id })).toBeNull();
        backdate(join(store.blobDir!, rolledBack.id), 2 * HOUR);
        expect(await store.blobDeleteOrphans({ olderThanMs: HOUR, limit: 100 })).toBe(1);
        expect(readdirSync(store.blobDir!)).toEqual([committed.id]);
      } finally {
        db.close();
      }
    });
  });
}
