import { execFile } from 'node:child_process';
import { rm, writeFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RetentionReport } from '../../src/privacy/retention.js';
import { keys } from '../../src/storage/keys.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

const run = promisify(execFile);
const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;

describe('audience-sync retention', () => {
  let t: TestStore & { root: string };
  let env: Record<string, string>;

  async function cli(args: string[]) {
    try {
      const { stdout, stderr } = await run(process.execPath, [BIN, 'retention', ...args], {
        env: { ...process.env, ...env },
      });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  async function listAll(): Promise<string[]> {
    const out: string[] = [];
    for await (const info of t.store.list('')) out.push(info.key);
    return out;
  }

  beforeAll(async () => {
    t = await createFsTestStore();
    // Beside the store, not in it.
    const config = `${t.root}.yaml`;
    await writeFile(config, 'version: 1\nretention: { raw_days: 100, quarantine_days: 5 }\n');
    env = { STORE_URL: t.root, CONFIG: config, REDIS_URL: 'redis://127.0.0.1:1', LOG_LEVEL: 'info' };
  });
  afterAll(async () => {
    await rm(env.CONFIG!, { force: true });
    await t.cleanup();
  });

  it('prints what it would remove with --dry-run, removes it without, and exits 2 on a refused limit', async () => {
    await t.store.put(keys.rawPart('events', '2000-01-01', 'a', 'a'), 'x');
    await t.store.put(keys.rawPart('events', '2000-01-02', 'a', 'a'), 'x');
    await t.store.put(keys.quarantinePart('events', '2000-01-01', 'a-a'), 'x');
    await t.store.put(keys.ledger('meta', 'buyers'), 'x');
    const before = await listAll();

    const dry = await cli(['--dry-run', '--json']);
    expect(dry.code).toBe(0);
    const report = JSON.parse(dry.stdout) as RetentionReport;
    expect(report).toMatchObject({ dry_run: true, keys_deleted: 3, units: 3 });
    expect(report.kinds.find((k) => k.kind === 'raw')).toMatchObject({
      limit_days: 100,
      units: 2,
      oldest_day: '2000-01-01',
      newest_day: '2000-01-02',
      removed: ['raw/events/dt=2000-01-01/', 'raw/events/dt=2000-01-02/'],
    });
    // The summary log line is on stderr, with counts only.
    expect(dry.stderr).toContain('retention dry run');
    expect(dry.stderr).not.toContain('raw/events');
    expect(await listAll()).toEqual(before);

    const text = await cli(['--dry-run']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/dry run: nothing deleted: would remove 3 objects/);
    expect(text.stdout).toMatch(
      /raw +raw_days 100 +keeps \d{4}-\d{2}-\d{2} and newer: would remove 2 partitions/,
    );
    expect(text.stdout).toContain('      quarantine/events/dt=2000-01-01/');

    const real = await cli([]);
    expect(real.code).toBe(0);
    expect(real.stdout).toMatch(/: removed 3 objects/);
    expect(await listAll()).toEqual([keys.ledger('meta', 'buyers')]);
    const again = await cli(['--json']);
    expect(JSON.parse(again.stdout).keys_deleted).toBe(0);

    await writeFile(
      env.CONFIG!,
      'version: 1\naudiences:\n  - { id: a, type: segment, when: { event: x, within_days: 60 } }\nretention: { raw_days: 59 }\n',
    );
    const refused = await cli([]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /retention\.raw_days: 59 days is shorter than the longest audience lookback \(60 days, audience "a"\) .* = 60 days/,
    );
  }, 60_000);
});
