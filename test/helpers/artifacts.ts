import { join } from 'node:path';

/**
 * Where tests leave files for a reviewer (screenshots, rendered reports): `test-artifacts/` in the
 * checkout (ignored by git), or TEST_OUTPUT_DIR when set. `.ci/run` points it into its log
 * directory, so a CI run keeps them next to its log.
 */
export function artifactsDir(sub: string): string {
  const root =
    process.env.TEST_OUTPUT_DIR ?? join(new URL('../..', import.meta.url).pathname, 'test-artifacts');
  return join(root, sub);
}
