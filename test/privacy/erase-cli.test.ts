import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { listKeys } from '../../src/storage/object-store.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;
const CONFIG = new URL('../../audience-sync.example.yaml', import.meta.url).pathname;

/** `audience-sync erase` (docs/privacy.md): an unknown person is a clear "no person matched" and exit 1. */
describe('audience-sync erase', () => {
  let t: TestStore | undefined;
  afterEach(async () => {
    await t?.cleanup();
    t = undefined;
  });

  const erase = (root: string, ...args: string[]) =>
    run(process.execPath, [BIN, 'erase', ...args], {
      env: { PATH: process.env.PATH ?? '', CONFIG, STORE_URL: root, LOG_LEVEL: 'silent' },
      timeout: 60_000,
    }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );

  it('answers "no person matched" with exit 1 for someone nobody knows, and --status shows the entry', async () => {
    t = await createFsTestStore();
    const { root } = t as TestStore & { root: string };
    const asked = await erase(root, '--email', 'nobody.here@example.net');
    expect(asked.code).toBe(1);
    expect(asked.stdout).toMatch(/^erasure (er-[0-9a-z]+): no_match$/m);
    expect(asked.stdout).toContain('no person matched');
    expect(asked.stderr).toMatch(/no person matched, nothing was erased/);
    expect(asked.stdout + asked.stderr).not.toContain('nobody.here');
    const id = /erasure (er-[0-9a-z]+): no_match/.exec(asked.stdout)![1]!;
    expect(await listKeys(t.store, 'privacy/')).toEqual([`privacy/erasures/${id}.json`]);

    const status = await erase(root, '--status', id, '--json');
    expect(status.code).toBe(1);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, status: 'no_match', source: 'cli' });

    const wrong = await erase(root, '--email', 'not-an-email');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/email is not an email address/);
  }, 120_000);
});
