/** Placeholder until the workloads land (next commit). */
export async function runBench(_flags: { db?: string; workload: string; reps: string; scale: string; json?: boolean }): Promise<void> {
  throw new Error('bench: not implemented yet');
}
