import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Golden files are compared byte for byte; never rewrite them unless asked (vitest -u).
    update: false,
    // Some tests compile goldens (tsc, cc, julia); on a loaded 2-core CI machine they take tens of
    // seconds, which is slowness, not failure.
    testTimeout: 120_000,
  },
});
