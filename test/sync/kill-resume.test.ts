import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { metaConnector } from '../../connectors/meta/index.js';
import { readLedger } from '../../src/sync/ledger.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { createFsTestStore } from '../helpers/stores.js';
import { personFor, treatment, writeDay } from './helpers.js';

const CHILD = new URL('./sync-child.ts', import.meta.url).pathname;
const DAY = '2026-11-28';

function startChild(
  root: string,
  url: string,
): { child: ChildProcess; done: Promise<{ code: number | null; stdout: string }> } {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, root, url, DAY], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'silent' },
  });
  let stdout = '';
  child.stdout!.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr!.on('data', () => {});
  const done = new Promise<{ code: number | null; stdout: string }>((resolve) => {
    child.on('exit', (code) => resolve({ code, stdout }));
  });
  return { child, done };
}

describe('a sync killed with SIGKILL half-way', () => {
  let fake: FakeMeta;
  let t: Awaited<ReturnType<typeof createFsTestStore>>;
  beforeEach(async () => {
    fake = await startFakeMeta();
    t = await createFsTestStore();
  });
  afterEach(async () => {
    await fake.close();
    await t.cleanup();
  });

  it('resumes after the last checkpoint and ends in the desired state without resending confirmed batches', async () => {
    const persons = Array.from({ length: 95 }, (_, i) => personFor(i));
    await writeDay(t.store, DAY, 'high_intent', persons, treatment(persons));
    // Slow uploads, so the kill lands while a batch is in flight.
    fake.controls.setLatency(150);
    const uploads = () => fake.requests.filter((r) => r.method === 'POST' && r.path.endsWith('/users'));
    const first = startChild(t.root, fake.url);
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (uploads().length >= 4) {
          clearInterval(timer);
          first.child.kill('SIGKILL');
          resolve();
        }
      }, 10);
      first.done.then(() => {
        clearInterval(timer);
        reject(new Error('the sync finished before it could be killed'));
      });
    });
    const killed = await first.done;
    expect(killed.code).toBeNull();
    const sentBeforeKill = uploads().length;
    expect(sentBeforeKill).toBeLessThan(10);

    fake.controls.setLatency(0);
    const second = startChild(t.root, fake.url);
    const finished = await second.done;
    expect(finished.code).toBe(0);
    const summary = JSON.parse(finished.stdout.trim()) as {
      status: string;
      batches: number;
      resumed: { next_batch: number; possibly_repeated_batches: number }[];
    };
    expect(summary.status).toBe('completed');
    expect(summary.batches).toBe(10);
    // The run report says that the batch in flight at the kill may have been sent twice.
    expect(summary.resumed).toHaveLength(1);
    expect(summary.resumed[0]!.possibly_repeated_batches).toBe(1);

    // Every person was uploaded once, except at most the one batch in flight at the kill.
    const sentCounts = new Map<string, number>();
    for (const request of uploads()) {
      const raw = (request.body as Record<string, unknown>).payload;
      const payload = (typeof raw === 'string' ? JSON.parse(raw) : raw) as {
        schema: string[];
        data: string[][];
      };
      const emailAt = payload.schema.indexOf('EMAIL');
      for (const row of payload.data) sentCounts.set(row[emailAt]!, (sentCounts.get(row[emailAt]!) ?? 0) + 1);
    }
    const repeated = [...sentCounts.values()].filter((n) => n > 1).length;
    expect(repeated).toBeLessThanOrEqual(10);
    expect(uploads().length).toBeLessThanOrEqual(11);

    // The platform and the ledger hold exactly the desired people.
    const audience = [...fake.state.audiences.values()][0]!;
    const onPlatform = [...audience.members.values()].map((m) => m.EMAIL).sort();
    expect(onPlatform).toEqual(persons.map((p) => metaConnector.matchKeys(p)!.email).sort());
    expect((await readLedger(t.store, 'meta', 'high_intent')).size).toBe(95);
  });
});
