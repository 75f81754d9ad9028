import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Browser tests (`npm run test:browser`): files named `*.browser.ts` under `test/`, driven through
 * Debian's headless `chromium`. Kept out of `npm test` so the main suite needs no browser.
 */
export default defineConfig({
  root: fileURLToPath(new URL('../../..', import.meta.url)),
  test: {
    include: ['test/**/*.browser.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 1,
    env: { LOG_LEVEL: 'silent' },
  },
});
