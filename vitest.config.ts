import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Generates the Prometheus months once, before the suites run in parallel.
    globalSetup: ["test/global-setup.ts"],
    testTimeout: 120_000,
    hookTimeout: 600_000,
    // Integration suites start their own Prometheus; two at once is what a 2-core machine bears.
    maxWorkers: 2,
    minWorkers: 1,
  },
});
