import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Starts the test database, and builds dist/ first when it is older than src/.
    globalSetup: ['test/global-setup.ts'],
    // Tests share one real PostgreSQL; each makes its own rows (unique logins) and finds its
    // own backends (an application_name per app), so files run in parallel. They mostly wait
    // on PostgreSQL, child processes and sockets, so three workers pay even on two cores.
    maxWorkers: 3,
    // Database round trips and child processes need more than the default.
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
    // CI asks for a JSON report beside the usual output, to count results itself.
    reporters: process.env.VITEST_JSON_REPORT ? ['default', ['json', { outputFile: process.env.VITEST_JSON_REPORT }]] : ['default'],
  },
})
