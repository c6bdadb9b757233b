import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Integration tests start real processes and servers; 2 cores is the budget.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 30_000,
    coverage: {
      provider: 'v8',
      include: ['protocol/**/*.ts', 'server/**/*.ts', 'agent/**/*.ts', 'cli/**/*.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: {
        'protocol/**/*.ts': { lines: 95 },
      },
    },
  },
});
