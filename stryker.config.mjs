// StrykerJS configuration for `npm run mutate`: mutation testing of impl/ and the simulated hardware
// (harness/media/) against their unit tests and the protocol's scenario tests, one mutant at a time (see "Mutation testing" in the README).

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  // `related`: a mutant of a file runs only test files that import it; with per-test coverage, only
  // the tests that reached the mutant in the dry run.
  vitest: { configFile: 'vitest.config.ts', related: true },
  coverageAnalysis: 'perTest',
  // The campaign suites (properties/, harness/fault_coverage, shadow/, cli/) reach nearly every mutant
  // and take minutes each: a surviving mutant would rerun all of them.
  testFiles: ['impl/**/*.test.ts', 'harness/media/**/*.test.ts', 'harness/scenarios/**/*.test.ts'],
  // impl/ and harness/media/ without their tests and the test kit they share.
  mutate: ['impl/**/*.ts', 'harness/media/**/*.ts', '!**/*.test.ts', '!impl/**/*_kit.ts'],
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  // The machine is shared: one test runner, and room for a slow run before a mutant counts as a hang.
  concurrency: 1,
  timeoutMS: 10_000,
  timeoutFactor: 2,
  dryRunTimeoutMinutes: 10,
  ignorePatterns: ['bench', 'docs', 'reports', '.ci'],
  reporters: ['clear-text', 'progress', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  thresholds: { high: 90, low: 80, break: null },
};
