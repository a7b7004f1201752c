/** One row of the bench report (the --json shape of ../shared/BENCHMARKS.md) and the human-readable table. */
import type { StoreDurability } from '../storage/store.js';

export interface BenchRow {
  workload: string;
  store: string;
  n: number;
  reps: number;
  jobsPerSec: number;
  jobsPerSecMin: number;
  jobsPerSecMax: number;
  latencyMs: { p50: number; p95: number; p99: number } | null;
  callLatencyMs: { p50: number; p99: number } | null;
  ratio: number | null;
  backlogEnd: number | null;
  non2xx: number | null;
  lost: number | null;
  durability: StoreDurability & { filesystem: string | null };
  notes: string;
}

const fmt = (n: number): string => n.toLocaleString('en-US');

export function formatTable(rows: readonly BenchRow[]): string {
  const header = ['workload', 'n', 'jobs/s (median)', 'min–max', 'latency p50/p95/p99 ms', 'call p50/p99 ms', 'ratio', 'backlog end', 'non-2xx / lost'];
  const body = rows.map((r) => [
    r.workload,
    fmt(r.n),
    fmt(r.jobsPerSec),
    `${fmt(r.jobsPerSecMin)}–${fmt(r.jobsPerSecMax)}`,
    r.latencyMs ? `${r.latencyMs.p50} / ${r.latencyMs.p95} / ${r.latencyMs.p99}` : '',
    r.callLatencyMs ? `${r.callLatencyMs.p50} / ${r.callLatencyMs.p99}` : '',
    r.ratio === null ? '' : String(r.ratio),
    r.backlogEnd === null ? '' : fmt(r.backlogEnd),
    r.non2xx === null && r.lost === null ? '' : `${r.non2xx === null ? '–' : fmt(r.non2xx)} / ${r.lost === null ? '–' : fmt(r.lost)}`,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((row) => row[i]!.length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)];
  // The store's settings, from the first row that measured a store (L0 has none).
  const stored = rows.find((r) => r.store !== 'none');
  const d = stored?.durability;
  if (stored && d) {
    const settings =
      stored.store === 'sqlite'
        ? `synchronous=${d.synchronous} journal_mode=${d.journalMode} filesystem=${d.filesystem ?? 'n/a'}`
        : `synchronous_commit=${d.synchronousCommit} fsync=${d.fsync}`;
    out.push('', `store: ${stored.store} ${settings} (${stored.reps} reps each, medians)`);
  }
  for (const r of rows) if (r.notes) out.push(`${r.workload}: ${r.notes}`);
  return `${out.join('\n')}\n`;
}
