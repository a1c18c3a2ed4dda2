import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**'],
    // Property suites are CPU-bound; two workers match the 2-core machines CI runs on.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
  },
});
