import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keys } from '../../src/storage/keys.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { CONFIG_YAML, seedHealthy } from './fixture.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;

describe('audience-sync check', () => {
  let t: TestStore & { root: string };
  let env: Record<string, string>;

  async function check(...args: string[]) {
    try {
      const { stdout, stderr } = await run(process.execPath, [BIN, 'check', ...args], {
        env: { ...process.env, ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  beforeAll(async () => {
    t = await createFsTestStore();
    const config = join(t.root, 'audience-sync.yaml');
    await writeFile(config, CONFIG_YAML);
    // Port 1: nothing listens, so the buffer checks are skipped without waiting.
    env = {
      STORE_URL: join(t.root, 'data'),
      CONFIG: config,
      REDIS_URL: 'redis://127.0.0.1:1',
      LOG_LEVEL: 'info',
    };
  });
  afterAll(() => t.cleanup());

  it('exits 0 on a healthy store, 1 with the finding on a critical one, and alerts only on the change', async () => {
    const { FsObjectStore } = await import('../../src/storage/fs-store.js');
    const store = new FsObjectStore(env.STORE_URL!);
    await seedHealthy(store, new Date());

    const healthy = await check('--json');
    expect(healthy.code).toBe(0);
    const report = JSON.parse(healthy.stdout);
    expect(report.redis).toBe('unreachable: buffer checks skipped');
    expect(report.findings.filter((f: { severity: string }) => f.severity !== 'info')).toEqual([]);
    expect(report.problems).toEqual([
      'alerts.webhook.url needs environment variable ALERT_WEBHOOK_URL, which is not set: webhook alerts are off',
    ]);

    const today = new Date().toISOString().slice(0, 10);
    const parts: string[] = [];
    for await (const i of store.list(keys.rawPrefix('messages', today))) parts.push(i.key);
    await store.delete(parts);
    // The newest messages part is now yesterday noon: older than the 3 h limit whatever the hour.
    const broken = await check('--json');
    expect(broken.code).toBe(1);
    const out = JSON.parse(broken.stdout);
    expect(out.findings).toContainEqual(
      expect.objectContaining({ id: 'freshness:messages', severity: 'critical' }),
    );
    expect(out.alerts.fired).toEqual(['freshness:messages']);
    expect(broken.stderr).toMatch(/error: 1 critical finding/);
    // The log sink wrote the alert to stderr, not into the JSON on stdout.
    expect(broken.stderr).toContain('"alert_id":"freshness:messages"');

    const again = await check();
    expect(again.code).toBe(1);
    expect(again.stdout).toMatch(/^CRITICAL freshness:messages {2}messages: no new raw data for /m);
    expect(again.stdout).toContain('alerts: 0 fired, 0 resolved, 1 firing');
    expect(again.stderr).not.toContain('"alert_id"');
  }, 60_000);
});
