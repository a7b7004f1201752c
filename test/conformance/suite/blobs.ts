/**
 * Payload blobs (JobInsertParams.blob): stored once outside the job row, full payload on claim (batched per
 * claim), `payload: null` + `payloadBytes` on reads, `jobPayloadGet`, deleted with their job (retention, DLQ
 * purge), never swept while a job references them. Where each driver keeps blobs is checked by its own suite
 * (sqlite/blob-files.ts, postgres/blobs.ts).
 */
import { describe, expect, it } from 'vitest';
import {
  claim,
  claimOne,
  declareQueue,
  enqueue,
  expectAllOk,
  failParams,
  findJob,
  getJob,
  insertOk,
  jobInput,
  newClock,
  SECOND,
} from '../../helpers/store-fixtures.js';
import { requires, type StoreFactory } from '../factory.js';

/** A JSON payload of about `kib` KiB with multi-byte characters (bytes ≠ UTF-16 length). */
export function bigPayloadJson(kib: number, tag = 'x'): string {
  return JSON.stringify({ tag, text: 'é€😀'.repeat(Math.ceil((kib * 1024) / 9)), n: 1 });
}

export function blobSuite(factory: StoreFactory): void {
  const withClock = requires(factory, 'settableClock');

  describe(`payload blobs [${factory.name}]`, () => {
    it('a blob payload reads as null with payloadBytes, comes back whole from jobPayloadGet and from a claim', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const json = bigPayloadJson(300);
      const id = await enqueue(store, 'q', { payloadJson: json, blob: true });
      const job = await getJob(store, id);
      expect(job.payload).toBeNull();
      expect(job.payloadBytes).toBe(Buffer.byteLength(json));
      expect((await store.jobList({ queue: 'q', limit: 10 })).jobs[0]).toMatchObject({ id, payload: null, payloadBytes: Buffer.byteLength(json) });
      expect((await store.jobPayloadGet({ id }))?.toString('utf8')).toBe(json);
      const claimed = await claimOne(store, 'q');
      expect(claimed.payloadJson).toBe(json);
    });

    it('inline payloads keep payloadBytes null, and jobPayloadGet answers them too (null for no job)', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q', { payloadJson: '{"a":[1,2]}' });
      expect(await getJob(store, id)).toMatchObject({ payload: { a: [1, 2] }, payloadBytes: null });
      expect((await store.jobPayloadGet({ id }))?.toString()).toBe('{"a":[1,2]}');
      expect(await store.jobPayloadGet({ id: '00000000-0000-7000-8000-000000000000' })).toBeNull();
    });

    it('a claim of several blob and inline jobs gives each its own payload, in claim order', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const payloads = [bigPayloadJson(260, 'a'), '"small"', bigPayloadJson(270, 'b'), bigPayloadJson(5, 'tiny-blob')];
      const receipts = await insertOk(
        store,
        payloads.map((p, i) => jobInput('q', { payloadJson: p, blob: i !== 1 })),
      );
      const claimed = await claim(store, 'q', 10);
      expect(claimed.map((c) => c.id)).toEqual(receipts.map((r) => r.id));
      expect(claimed.map((c) => c.payloadJson)).toEqual(payloads);
    });

    it('an idempotent replay of a blob job answers the original job, whose blob stays whole', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const json = bigPayloadJson(300);
      const idempotency = { key: 'k1', fingerprint: 'f1' };
      const [first] = await insertOk(store, [jobInput('q', { payloadJson: json, blob: true, idempotency })]);
      const [again] = await store.jobInsertMany({ jobs: [jobInput('q', { payloadJson: json, blob: true, idempotency })] });
      expect(again).toMatchObject({ ok: true, replayed: true, receipt: { id: first!.id } });
      expect((await store.jobPayloadGet({ id: first!.id }))?.toString()).toBe(json);
      expect((await claimOne(store, 'q')).payloadJson).toBe(json);
      expect(await claim(store, 'q', 5)).toEqual([]); // one job only
    });

    it('an insert refused for an undeclared queue leaves no job and no payload to read', async () => {
      const store = await factory.open();
      const input = jobInput('nope', { payloadJson: bigPayloadJson(300), blob: true });
      const [r] = await store.jobInsertMany({ jobs: [input] });
      expect(r?.ok).toBe(false);
      expect(await store.jobPayloadGet({ id: input.id })).toBeNull();
    });

    withClock('retention deletes the blob with its job', async () => {
      const clock = newClock();
      const store = await factory.open({ clock });
      await declareQueue(store, 'q', { retention: { completedSeconds: 10, deadSeconds: 10 } });
      const id = await enqueue(store, 'q', { payloadJson: bigPayloadJson(300), blob: true });
      const job = await claimOne(store, 'q');
      expectAllOk(await store.jobCompleteMany({ jobs: [{ id, leaseToken: job.leaseToken, resultJson: null }] }));
      clock.advance(11 * SECOND);
      expect(await store.jobDeleteExpired({ limit: 100 })).toBe(1);
      expect(await findJob(store, id)).toBeUndefined();
      expect(await store.jobPayloadGet({ id })).toBeNull();
      // Nothing left behind for the orphan sweep either.
      expect(await store.blobDeleteOrphans({ olderThanMs: 0, limit: 100 })).toBe(0);
    });

    it('purging a dead job deletes its blob', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const id = await enqueue(store, 'q', { payloadJson: bigPayloadJson(300), blob: true });
      expectAllOk(await store.jobFailMany({ jobs: [failParams(await claimOne(store, 'q'), 'dead')] }));
      expect(await store.jobDeleteDead({ queue: 'q', id })).toBe(true);
      expect(await store.jobPayloadGet({ id })).toBeNull();
      expect(await store.blobDeleteOrphans({ olderThanMs: 0, limit: 100 })).toBe(0);
    });

    it('the orphan sweep never deletes a blob a job references, however old the age limit', async () => {
      const store = await factory.open();
      await declareQueue(store, 'q');
      const json = bigPayloadJson(300);
      await enqueue(store, 'q', { payloadJson: json, blob: true });
      expect(await store.blobDeleteOrphans({ olderThanMs: 0, limit: 100 })).toBe(0);
      expect((await claimOne(store, 'q')).payloadJson).toBe(json);
    });
  });
}
