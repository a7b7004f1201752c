import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // PostgreSQL for the run: the machine's, or a private one when none answers (test/global-setup.ts).
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Crash tests spawn real processes and fsync real files: two cores, so keep parallelism modest.
    maxWorkers: 2,
    pool: 'forks',
  },
});
