import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    // .stryker-tmp: StrykerJS's sandboxes (npm run mutate), copies of this tree.
    exclude: ['node_modules/**', '.stryker-tmp/**'],
    // Property suites are CPU-bound; two workers match the 2-core machines CI runs on.
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 60_000,
    // Some suites run a campaign in beforeAll: the default 10 s is short on a loaded 2-core machine.
    hookTimeout: 60_000,
  },
});
