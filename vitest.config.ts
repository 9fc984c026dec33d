import { defineConfig } from 'vitest/config';

// Integration tests start real processes and engines; two cores cannot run
// many of them at once without turning timeouts into noise.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
