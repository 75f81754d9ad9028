import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { listKeys } from '../../src/storage/object-store.js';
import { createFsTestStore } from '../helpers/stores.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;

describe('audience-sync demo', () => {
  it('runs without Redis or credentials and prints the summary, with request bodies in the outbox', async () => {
    const { store, root, cleanup } = await createFsTestStore();
    try {
      // A Redis URL nobody answers on, and no platform secrets at all.
      const env: Record<string, string> = {
        PATH: process.env.PATH ?? '',
        STORE_URL: root,
        REDIS_URL: 'redis://127.0.0.1:1',
      };
      const { stdout } = await run(process.execPath, [BIN, 'demo', '--people', '800', '--days', '20'], {
        env,
        timeout: 120_000,
      });
      expect(stdout).toMatch(/refresh \d{4}-\d{2}-\d{2} \(dry run\): \d+ people in the snapshot/);
      expect(stdout).toMatch(/^high_intent_abandoners\s+\d+\s+\d+\s+\d+$/m);
      expect(stdout).toMatch(/^recent_buyers → meta\s+completed\s+\d+\s+0\s+1$/m);
      expect(stdout).not.toMatch(/failed/);
      const outbox = await listKeys(store, 'outbox/');
      for (const destination of ['meta', 'google', 'tiktok', 'cio']) {
        expect(outbox.some((k) => k.startsWith(`outbox/${destination}/`))).toBe(true);
      }
      // Only hashed identifiers in what would be sent.
      const meta = outbox.find((k) => k.startsWith('outbox/meta/recent_buyers/') && k.endsWith('-add.json'))!;
      expect((await store.get(meta)).toString()).not.toMatch(/@example|@/);
    } finally {
      await cleanup();
    }
    // A whole process: generation, 19 builds, compaction, syncs and the lift report.
  }, 120_000);
});
