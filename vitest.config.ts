import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Crash tests spawn real processes and fsync real files: two cores, so keep parallelism modest.
    maxWorkers: 2,
    pool: 'forks',
  },
});
