import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Golden files are compared byte for byte; never rewrite them unless asked (vitest -u).
    update: false,
  },
});
