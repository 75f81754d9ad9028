import { execFile, spawn } from 'node:child_process';
import { type AddressInfo, createServer } from 'node:net';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { listKeys } from '../../src/storage/object-store.js';
import { createFsTestStore } from '../helpers/stores.js';

const run = promisify(execFile);

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Runs `audience-sync console` until `fn` is done; `fn` gets the console's URL. */
async function withConsole(env: Record<string, string>, fn: (url: string) => Promise<void>): Promise<void> {
  const child = spawn(process.execPath, [BIN, 'console'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let text = '';
      child.stdout.on('data', (c: Buffer) => {
        text += c.toString();
        const m = /console: (http:\/\/\S+)/.exec(text);
        if (m) resolve(m[1]!);
      });
      child.once('exit', (code) => reject(new Error(`console exited with ${code}`)));
    });
    await fn(url);
  } finally {
    child.kill('SIGTERM');
  }
}
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

      // `console` opens the operator console on the same store: it needs a key to sign in with.
      const noKey = await run(process.execPath, [BIN, 'console'], { env }).catch((e) => e);
      expect(noKey.code).toBe(2);
      expect(noKey.stderr).toMatch(/set ADMIN_API_KEYS/);
      await withConsole(
        { ...env, ADMIN_API_KEYS: 'local-demo-key', PORT: String(await freePort()) },
        async (url) => {
          const signIn = await fetch(`${url}/sign-in`, {
            method: 'POST',
            redirect: 'manual',
            headers: { 'content-type': 'application/x-www-form-urlencoded', origin: new URL(url).origin },
            body: 'key=local-demo-key',
          });
          expect(signIn.status).toBe(303);
          const cookie = signIn.headers.get('set-cookie')!.split(';')[0]!;
          const page = await fetch(`${url}/audiences/high_intent_abandoners`, { headers: { cookie } });
          expect(page.status).toBe(200);
          expect(await page.text()).toMatch(/high_intent_abandoners/);
        },
      );
    } finally {
      await cleanup();
    }
    // A whole process: generation, 19 builds, compaction, syncs and the lift report.
  }, 120_000);
});
