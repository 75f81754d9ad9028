import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The fault-injection suite (`npm run test:faults`, docs/reliability.md): one file, run alone and
 * in order, with the s3rver of the main test setup. Kept out of `npm test` (see vitest.config.ts).
 * `FAULT_SEED=<n>` replays the kill points of a run.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../..', import.meta.url)),
  test: {
    include: ['test/faults/**/*.test.ts'],
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    maxWorkers: 1,
    // Kill episodes run two at a time (describe.concurrent): one waits on a child while the other builds.
    maxConcurrency: 2,
    fileParallelism: false,
    env: {
      LOG_LEVEL: 'silent',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    },
  },
});
