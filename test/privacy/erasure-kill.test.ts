import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metaConnector } from '../../connectors/meta/index.js';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { createLogger } from '../../src/log.js';
import { runBuildStage, runPeopleStage, runSyncStage, type StageContext } from '../../src/pipeline/stages.js';
import { syncTargets } from '../../src/pipeline/targets.js';
import { runErasure } from '../../src/privacy/erase.js';
import { createErasure, type ErasureRecord, readErasure } from '../../src/privacy/erasure.js';
import { keys } from '../../src/storage/keys.js';
import { listKeys } from '../../src/storage/object-store.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { writeCheckoutDay } from '../helpers/raw-days.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

/**
 * An erasure killed (SIGKILL, in a child process) after each of its steps in turn — resolved,
 * suppressed, after the first platform removal, after the first rewritten object, rewritten — and
 * run again each time: it finishes exactly once. One audit entry, completed once; each platform
 * removal recorded once and confirmed; the fake holds nobody of theirs and everybody else; every
 * rewritten object listed once; and a run after completion changes nothing and sends nothing.
 */
const DAY = '2026-11-20';
const TS = `${DAY}T09:00:00.000Z`;
const CHILD = new URL('./erase-child.ts', import.meta.url).pathname;
const POINTS = ['resolved', 'suppressed', 'platform', 'rewrote-object', 'rewritten'] as const;
const people = Array.from({ length: 8 }, (_, i) => ({
  customer_id: `kill-${i}`,
  email: `kill.person.${i}@example.net`,
  phone: `+1415555020${i}`,
  country: 'US',
  ts: TS,
}));
const TARGET = people[3]!;
const CONFIG = `
version: 1
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: "\${KILL_META_TOKEN}" }
audiences:
  - id: checkout
    type: segment
    when: { event: checkout_started, within_days: 7 }
    sync: [meta]
  - id: everyone
    type: segment
    when: { event: checkout_started, within_days: 30 }
    sync: [meta]
`;

function runChild(
  args: object,
  fault?: string,
): Promise<{ code: number | null; signal: string | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(args)], {
      env: { ...process.env, ...(fault ? { AUDIENCE_SYNC_FAULT: fault } : {}) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({ code, signal, out }));
  });
}

describe('an erasure killed after each step finishes exactly once', () => {
  let t: TestStore & { root: string };
  let fake: FakeMeta;
  let dir: string;
  let ctx: StageContext;

  beforeAll(async () => {
    fake = await startFakeMeta();
    process.env.KILL_META_TOKEN = fake.state.token;
    process.env.META_GRAPH_URL = fake.url;
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'erasure-kill-'));
    await writeFile(join(dir, 'audience-sync.yaml'), CONFIG);
    ctx = {
      store: t.store,
      loaded: await loadAudienceSyncConfig(join(dir, 'audience-sync.yaml')),
      env: parseEnv({ META_GRAPH_URL: fake.url }),
      log: createLogger({ level: 'silent' }),
    };
    await writeCheckoutDay(t.store, DAY, people);
    await runPeopleStage(ctx, DAY);
    await runBuildStage(ctx, DAY);
    for (const target of syncTargets(ctx.loaded.config.audiences)) {
      expect((await runSyncStage(ctx, { day: DAY, target, runId: DAY })).status).toBe('completed');
    }
  });
  afterAll(async () => {
    delete process.env.KILL_META_TOKEN;
    delete process.env.META_GRAPH_URL;
    await fake?.close();
    await t?.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('resumes from every step to one completed erasure', async () => {
    const held = () =>
      [...fake.state.audiences.values()].map((a) => [...a.members.values()].map((m) => m.EMAIL!).sort());
    const targetEmail = metaConnector.matchKeys(TARGET)!.email!;
    expect(held().every((emails) => emails.includes(targetEmail))).toBe(true);
    const { id } = await createErasure(t.store, { phone: TARGET.phone }, 'cli');
    const args = { root: t.root, config: join(dir, 'audience-sync.yaml'), id };

    for (const point of POINTS) {
      const run = await runChild(args, `erasure:after-${point}`);
      expect(run.signal, `${point}: ${run.out}`).toBe('SIGKILL');
      const record = (await readErasure(t.store, id))!;
      expect(record.status, point).toBe('running');
    }
    const last = await runChild(args);
    expect(last.code, last.out).toBe(0);
    const record = (await readErasure(t.store, id)) as ErasureRecord;
    expect(record.status).toBe('completed');

    // Each platform removal once, confirmed; the fake holds everyone but them.
    expect(record.platforms!.map((p) => `${p.audience_id}:${p.status}:${p.removed}`).sort()).toEqual([
      'checkout:completed:1',
      'everyone:completed:1',
    ]);
    const others = people
      .filter((p) => p !== TARGET)
      .map((p) => metaConnector.matchKeys(p)!.email!)
      .sort();
    expect(held()).toEqual([others, others]);
    // Every rewritten object once.
    const rewritten = record.objects_rewritten.map((o) => o.key);
    expect(new Set(rewritten).size).toBe(rewritten.length);
    expect(rewritten).toEqual(
      expect.arrayContaining([keys.peopleSnapshot(DAY), keys.members('checkout', DAY)]),
    );
    // Exactly one audit entry.
    expect(await listKeys(t.store, 'privacy/erasures/')).toEqual([`privacy/erasures/${id}.json`]);

    // After completion, another run is a no-op: no request, the same record.
    const requests = fake.requests.length;
    const again = await runErasure({ ctx, id });
    expect(again).toEqual(record);
    expect(fake.requests.length).toBe(requests);
    expect(fake.state.shapeErrors).toEqual([]);
  }, 180_000);
});
