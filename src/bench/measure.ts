/** Small measuring tools for the benchmark: percentiles, medians, pacing, filesystem type. */
import { readFileSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';

/** Collects samples (milliseconds) into a growable typed array; percentiles by sorting once. */
export class Samples {
  #values = new Float64Array(1024);
  #length = 0;

  add(value: number): void {
    if (this.#length === this.#values.length) {
      const next = new Float64Array(this.#values.length * 2);
      next.set(this.#values);
      this.#values = next;
    }
    this.#values[this.#length++] = value;
  }

  get count(): number {
    return this.#length;
  }

  /** Nearest-rank percentiles (p in 0..100). */
  percentiles<P extends number>(ps: readonly P[]): Record<`p${P}`, number> {
    const sorted = this.#values.slice(0, this.#length).sort();
    const out = {} as Record<`p${P}`, number>;
    for (const p of ps) {
      const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
      out[`p${p}`] = round(sorted[rank - 1] ?? 0, 3);
    }
    return out;
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function round(value: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const now = (): number => performance.now();

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Run `task` with at most `inFlight` calls outstanding until `total` calls have been made or `stop()` says so. */
export async function closedLoop(inFlight: number, total: number, task: (seq: number) => Promise<void>, stop: () => boolean = () => false): Promise<number> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < total && !stop()) await task(next++);
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return next;
}

/** The filesystem type of the mount holding `path` (from /proc/mounts; "unknown" elsewhere). */
export function filesystemOf(path: string): string {
  let target: string;
  try {
    target = realpathSync(dirname(path));
  } catch {
    return 'unknown';
  }
  let mounts: string;
  try {
    mounts = readFileSync('/proc/mounts', 'utf8');
  } catch {
    return 'unknown';
  }
  let best = { mount: '', type: 'unknown' };
  for (const line of mounts.split('\n')) {
    const [, mount, type] = line.split(' ');
    if (!mount || !type) continue;
    const m = mount.replace(/\\040/g, ' ');
    const covers = target === m || target.startsWith(m.endsWith('/') ? m : `${m}/`);
    if (covers && m.length >= best.mount.length) best = { mount: m, type };
  }
  return best.type;
}
