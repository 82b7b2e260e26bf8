import { defineConfig } from 'vitest/config';

// Tests that measure the gate against real routers and processes (how many queries a router holds,
// the 95th percentile over time) run last and alone: with the other files on the same two cores,
// they measured the test runner's load as much as dnsgate. Everything else runs in parallel first.
const MEASURED = ['test/routers.test.ts', 'test/redis-cluster.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    projects: [
      {
        extends: true,
        test: { name: 'main', include: ['test/**/*.test.ts'], exclude: MEASURED },
      },
      {
        extends: true,
        test: { name: 'measured', include: MEASURED, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
