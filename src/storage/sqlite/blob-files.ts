/**
 * Payload blobs of the SQLite store, beside the database file: `<db>.blobs/<job id>`, one file per job whose
 * payload is over 256 KiB (kept out of the database so a large payload is not written twice, to the WAL and
 * then the file, nor copied by every checkpoint). The SqliteStore owns this; nothing else touches the folder.
 *
 * Crash safety: a blob is written to a temporary name (`.<id>.<random>.tmp`), fsynced, renamed to its job
 * id, and the folder fsynced — all before the job's transaction commits. So a committed job always finds its
 * blob after a crash, and a crash (or a rolled-back caller transaction) between the blob and its job leaves a
 * file no job references. Such a file is never served: blobs are read only through their job's row, and job
 * ids are new UUIDs. `sweep` (the maintenance leader, hourly) deletes files older than an hour that no job
 * references, and temporary files older than an hour. Deleting a job unlinks its file after the deletion
 * commits (an unlink lost to a crash leaves an orphan for the sweep).
 *
 * An in-memory store (`:memory:`, tests only) keeps its blobs in memory.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { mkdir, open, opendir, readFile, rename, stat, unlink } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';

/** Job ids are UUIDs; anything that could leave the folder or hide as a temporary file is refused. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;
const TEMP_NAME = /^\..+\.tmp$/;

export class BlobFiles {
  /** The folder (null: an in-memory store). */
  readonly dir: string | null;
  readonly #memory = new Map<string, { data: Buffer; at: number }>();
  #dirReady = false;

  constructor(databasePath: string) {
    this.dir = databasePath === ':memory:' || databasePath === '' ? null : `${resolve(databasePath)}.blobs`;
  }

  /** Write every blob durably; resolves once all of them, and their names, survive a crash. */
  async writeMany(blobs: ReadonlyMap<string, Buffer>): Promise<void> {
    const dir = this.#target(blobs);
    if (dir === null) return;
    if (!this.#dirReady) {
      await mkdir(dir, { recursive: true });
      await fsyncPath(dirname(dir)); // the folder's own entry
      this.#dirReady = true;
    }
    await Promise.all(
      [...blobs].map(async ([id, data]) => {
        const temp = join(dir, `.${id}.${randomBytes(6).toString('hex')}.tmp`);
        const file = await open(temp, 'w');
        try {
          await file.writeFile(data);
          await file.sync();
        } finally {
          await file.close();
        }
        await rename(temp, join(dir, id));
      }),
    );
    await fsyncPath(dir); // the renames
  }

  /** As writeMany, synchronously (transactional enqueue on a caller's connection is synchronous). */
  writeManySync(blobs: ReadonlyMap<string, Buffer>): void {
    const dir = this.#target(blobs);
    if (dir === null) return;
    if (!this.#dirReady) {
      mkdirSync(dir, { recursive: true });
      fsyncPathSync(dirname(dir));
      this.#dirReady = true;
    }
    for (const [id, data] of blobs) {
      const temp = join(dir, `.${id}.${randomBytes(6).toString('hex')}.tmp`);
      const fd = openSync(temp, 'w');
      try {
        for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, join(dir, id));
    }
    fsyncPathSync(dir);
  }

  /** Checks the ids; without a directory (`:memory:`) keeps the blobs in memory and answers null, else the directory. */
  #target(blobs: ReadonlyMap<string, Buffer>): string | null {
    for (const id of blobs.keys()) assertSafe(id);
    if (this.dir === null) {
      for (const [id, data] of blobs) this.#memory.set(id, { data, at: Date.now() });
    }
    return this.dir;
  }

  /** The blobs found, by id (one read per blob, in parallel). */
  async readMany(ids: readonly string[]): Promise<Map<string, Buffer>> {
    const found = new Map<string, Buffer>();
    await Promise.all(
      ids.map(async (id) => {
        const data = await this.read(id);
        if (data) found.set(id, data);
      }),
    );
    return found;
  }

  async read(id: string): Promise<Buffer | null> {
    if (!SAFE_NAME.test(id)) return null;
    if (this.dir === null) return this.#memory.get(id)?.data ?? null;
    try {
      return await readFile(join(this.dir, id));
    } catch (error) {
      if (isMissing(error)) return null;
      throw error;
    }
  }

  /** Unlink these jobs' blobs (after their deletion committed); absent ones are fine. */
  async deleteMany(ids: readonly string[]): Promise<void> {
    if (this.dir === null) {
      for (const id of ids) this.#memory.delete(id);
      return;
    }
    const dir = this.dir;
    await Promise.all(ids.filter((id) => SAFE_NAME.test(id)).map((id) => unlink(join(dir, id)).catch(ignoreMissing)));
  }

  /** As deleteMany, synchronously (the caller-transaction path cleans up after a refused insert). */
  deleteManySync(ids: readonly string[]): void {
    for (const id of ids) {
      if (this.dir === null) this.#memory.delete(id);
      else if (SAFE_NAME.test(id)) {
        try {
          unlinkSync(join(this.dir, id));
        } catch (error) {
          ignoreMissing(error);
        }
      }
    }
  }

  /**
   * Delete files older than `olderThanMs` that no job references (`referenced` answers which of the given ids
   * have a job), and stale temporary files; at most `limit`. Returns how many were deleted.
   */
  async sweep(olderThanMs: number, limit: number, referenced: (ids: readonly string[]) => Set<string>): Promise<number> {
    if (this.dir === null) return this.#sweepMemory(Date.now() - olderThanMs, limit, referenced);
    const dir = this.dir;
    let entries;
    try {
      entries = await opendir(dir);
    } catch (error) {
      if (isMissing(error)) return 0;
      throw error;
    }
    const cutoff = Date.now() - olderThanMs;
    let deleted = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      const keep = referenced(batch);
      for (const id of batch) {
        if (deleted >= limit) break;
        if (keep.has(id)) continue;
        await unlink(join(dir, id)).catch(ignoreMissing);
        deleted++;
      }
      batch = [];
    };
    for await (const entry of entries) {
      if (deleted >= limit) break;
      if (!entry.isFile()) continue;
      const temp = TEMP_NAME.test(entry.name);
      if (!temp && !SAFE_NAME.test(entry.name)) continue; // not ours
      const info = await stat(join(dir, entry.name)).catch(() => null);
      if (!info || info.mtimeMs > cutoff) continue;
      if (temp) {
        await unlink(join(dir, entry.name)).catch(ignoreMissing);
        deleted++;
        continue;
      }
      batch.push(entry.name);
      if (batch.length >= 500) await flush();
    }
    if (batch.length > 0 && deleted < limit) await flush();
    return deleted;
  }

  /** In memory, blobs of refused inserts are discarded at once; the same rules apply all the same. */
  #sweepMemory(cutoff: number, limit: number, referenced: (ids: readonly string[]) => Set<string>): number {
    const ids = [...this.#memory].filter(([, b]) => b.at <= cutoff).map(([id]) => id);
    const keep = referenced(ids);
    let deleted = 0;
    for (const id of ids) {
      if (deleted >= limit) break;
      if (keep.has(id)) continue;
      this.#memory.delete(id);
      deleted++;
    }
    return deleted;
  }
}

function assertSafe(id: string): void {
  if (!SAFE_NAME.test(id)) throw new Error(`job id ${JSON.stringify(id)} cannot name a blob file`);
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function fsyncPathSync(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function isMissing(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'ENOENT';
}

function ignoreMissing(error: unknown): void {
  if (!isMissing(error)) throw error;
}
