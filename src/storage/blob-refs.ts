/**
 * Blob references, shared by the drivers. A payload stored as a blob (JobInsertParams.blob: over 256 KiB)
 * leaves a reference in the job row's `payload` column instead of its JSON: `@blob:<bytes>`. That text is
 * never valid JSON (JSON text cannot start with `@`, and every inline payload is JSON.stringify output), so a
 * reference cannot be confused with a payload or forged by one. The blob itself is keyed by the job id:
 * PostgreSQL keeps it in `job_blobs` (postgres/blobs.ts), SQLite in a file beside the database
 * (sqlite/blob-files.ts). A blob is only ever reached through its job's row, so one without a job (an orphan
 * left by a crash) is never served.
 *
 * Claims resolve references here (`resolveClaimedBlobs`): one batched read per claim that has blob jobs,
 * none otherwise, so every consumer — in-process handlers, remote leases, push deliveries, upcasters — gets
 * the full payload.
 */
import type { ClaimedJob, JobFailParams, JobInsertParams } from './store.js';

const PREFIX = '@blob:';

export function blobRef(bytes: number): string {
  return `${PREFIX}${bytes}`;
}

/** The blob size a `payload` column names, or null for an inline payload. */
export function blobRefBytes(payloadColumn: string): number | null {
  if (payloadColumn.charCodeAt(0) !== 64 /* @ */ || !payloadColumn.startsWith(PREFIX)) return null;
  return Number(payloadColumn.slice(PREFIX.length));
}

/** The blob jobs of an insert: their payload bytes (UTF-8 JSON), by job id. */
export function blobsOf(jobs: readonly JobInsertParams[]): Map<string, Buffer> {
  const blobs = new Map<string, Buffer>();
  for (const j of jobs) if (j.blob) blobs.set(j.id, Buffer.from(j.payloadJson, 'utf8'));
  return blobs;
}

/** The insert params as the job rows store them: a blob job's payload replaced by its reference. */
export function withBlobRefs(jobs: readonly JobInsertParams[], blobs: ReadonlyMap<string, Buffer>): readonly JobInsertParams[] {
  if (blobs.size === 0) return jobs;
  return jobs.map((j) => {
    const blob = j.blob ? blobs.get(j.id) : undefined;
    return blob ? { ...j, payloadJson: blobRef(blob.length) } : j;
  });
}

/**
 * Put the full payload into claimed jobs whose row holds a blob reference. `read` answers the blobs it found
 * (one batched read); a job whose blob is missing or of the wrong size (a file deleted by hand) cannot run:
 * it is sent to the DLQ through `fail` with the reason, and left out of the answer.
 */
export async function resolveClaimedBlobs(
  jobs: ClaimedJob[],
  read: (ids: string[]) => Promise<Map<string, Buffer>>,
  fail: (jobs: JobFailParams[]) => Promise<unknown>,
): Promise<ClaimedJob[]> {
  let ids: string[] | null = null;
  for (const j of jobs) if (blobRefBytes(j.payloadJson) !== null) (ids ??= []).push(j.id);
  if (ids === null) return jobs;
  const blobs = await read(ids);
  const out: ClaimedJob[] = [];
  const broken: JobFailParams[] = [];
  for (const j of jobs) {
    const bytes = blobRefBytes(j.payloadJson);
    if (bytes === null) {
      out.push(j);
      continue;
    }
    const blob = blobs.get(j.id);
    if (blob && blob.length === bytes) {
      out.push({ ...j, payloadJson: blob.toString('utf8') });
      continue;
    }
    const message = blob ? `payload blob of job ${j.id} has ${blob.length} bytes, expected ${bytes}` : `payload blob of job ${j.id} is missing`;
    broken.push({ id: j.id, leaseToken: j.leaseToken, to: 'dead', retryDelayMs: 0, error: { message, name: 'PayloadBlobError', retryable: false }, reason: 'fail' });
  }
  if (broken.length > 0) await fail(broken);
  return out;
}
