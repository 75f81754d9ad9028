import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type FakeReady, type FakeStats, type PlatformId, startFakePlatform } from '../../bench/_sync-ipc.js';
import type { MemoryReport } from './memory-child.js';

/**
 * The sync's memory does not grow with the audience (issue 15): two days of one audience's sync
 * (everyone added, then 10% leaving and as many joining) run in a child process
 * (memory-child.ts) for a small and a larger audience, and the larger one's peak V8 heap may be no
 * more than a fixed allowance above the smaller one's. The map-based engine this replaced held
 * 1.5–2.5 KB of heap per member (members, desired rows, ledger, plan arrays): 90,000 more members
 * would have cost it about 130–215 MiB, and 40,000 more 57–95 MiB. Keeping only every DiffItem of
 * the merge in memory (a module-level array in desired.ts) already fails every case here: live
 * heap 158 MiB at 100,000 Meta members against 21.5 at 10,000, 78 and 81 MiB at 50,000 Google and
 * TikTok members, where the streaming engine stays within 4 MiB of the small audience.
 *
 * The child measures two figures from a heap collected right before the first sync: the heap used,
 * sampled every 10 ms, and the live heap, sampled right after a forced collection every 250 ms.
 * Both are bounded; the live heap is the one the allowance is tight on, since what garbage piles
 * up between collections depends on V8's heuristics (without forced collections and with
 * 10,000-row batches, the sampled peak went from 52 MiB at 10,000 members to 126 MiB at 100,000,
 * the difference all garbage: the heap after each full collection stayed under 36 MiB).
 *
 * The fake platform runs count-only in a process of its own (bench/_fake-platform-server.ts), so
 * its memory is not the sync's; it also tells how many rows it received per operation.
 */
const CHILD = new URL('./memory-child.ts', import.meta.url).pathname;
/** What the larger audience's live heap may exceed the smaller one's by. */
const LIVE_ALLOWANCE_MIB = 16;
/**
 * The same for the sampled heap, garbage included: looser, since how much garbage a run leaves
 * between two forced collections varies (up to 13 MiB apart between runs here, more when a loaded
 * machine delays the collections).
 */
const SAMPLED_ALLOWANCE_MIB = 32;
/** The batch size the child configures (small batches keep the per-batch share of the heap small). */
const BATCH = 1_000;

interface Case {
  platform: PlatformId;
  small: number;
  large: number;
}

const CASES: Case[] = [
  { platform: 'meta', small: 10_000, large: 100_000 },
  // Google: three consent groups, so three kinds of jobs; a fifth of the people may not be added.
  { platform: 'google_ads', small: 10_000, large: 50_000 },
  { platform: 'tiktok', small: 10_000, large: 50_000 },
];

describe('sync memory does not grow with the audience', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  for (const { platform, small, large } of CASES) {
    it(`${platform}: ${small.toLocaleString('en-US')} vs ${large.toLocaleString('en-US')} members, two days each`, async () => {
      const fake = await startFakePlatform(platform, { stdout: 'ignore' });
      cleanups.push(fake.close);
      const reports: MemoryReport[] = [];
      for (const n of [small, large]) {
        const heldBefore = (await fake.stats()).members;
        const report = await runChild(platform, n, fake.ready);
        const stats = await fake.stats();
        expectSyncs(platform, n, report, stats, stats.members - heldBefore);
        reports.push(report);
      }
      const [a, b] = reports as [MemoryReport, MemoryReport];
      process.stdout.write(
        `${platform}: ${[a, b]
          .map(
            (r) =>
              `${r.members} members: live heap ${r.peakLiveHeapMiB} MiB, sampled heap ${r.peakHeapMiB} MiB ` +
              `(baseline ${r.baselineHeapMiB}), max RSS ${r.maxRssMiB} MiB, ` +
              `syncs ${r.days.map((d) => d.seconds.toFixed(1)).join(' + ')} s`,
          )
          .join('; ')}\n`,
      );
      // The sampler ran while the syncs ran.
      for (const r of reports) {
        expect(r.samples).toBeGreaterThan(20);
        expect(r.collections).toBeGreaterThan(2);
      }
      expect(b.peakLiveHeapMiB).toBeLessThanOrEqual(a.peakLiveHeapMiB + LIVE_ALLOWANCE_MIB);
      expect(b.peakHeapMiB).toBeLessThanOrEqual(a.peakHeapMiB + SAMPLED_ALLOWANCE_MIB);
    }, 180_000);
  }
});

/** Both days completed with exactly the changes the inputs call for, and the platform got them. */
function expectSyncs(
  platform: PlatformId,
  n: number,
  report: MemoryReport,
  stats: FakeStats,
  heldAdded: number,
): void {
  // Google may add people 0–7 of every ten (memory-child.ts); Meta and TikTok everyone.
  const desired = platform === 'google_ads' ? (n / 10) * 8 : n;
  const churn = desired / 10;
  const [day1, day2] = report.days;
  expect(report.days).toHaveLength(2);
  expect(day1!.status).toBe('completed');
  expect(day1!.members).toMatchObject({
    members: n,
    desired,
    consent_excluded: n - desired,
  });
  expect(day1!.plan).toMatchObject({ add: desired, remove: 0, batch_size: BATCH });
  expect(day1!.accepted).toEqual({ add: desired, remove: 0 });
  expect(day2!.status).toBe('completed');
  expect(day2!.plan).toMatchObject({ add: churn, remove: churn, unchanged: desired - churn });
  expect(day2!.accepted).toEqual({ add: churn, remove: churn });

  const rows = (op: string) => stats.uploads.filter((u) => u.op === op).reduce((s, u) => s + u.rows, 0);
  expect({ add: rows('add'), remove: rows('remove') }).toEqual({
    add: desired + churn,
    remove: churn,
  });
  expect(heldAdded).toBe(desired);
  expect(stats.shapeErrorCount, stats.shapeErrors.join('; ')).toBe(0);
  if (platform === 'google_ads') {
    // One kind of job per consent state.
    expect(new Set(stats.uploads.filter((u) => u.op === 'add').map((u) => u.group))).toEqual(
      new Set(['UNSPECIFIED/UNSPECIFIED', 'GRANTED/GRANTED', 'GRANTED/UNSPECIFIED']),
    );
  }
}

async function runChild(platform: PlatformId, n: number, ready: FakeReady): Promise<MemoryReport> {
  const dir = await mkdtemp(join(tmpdir(), 'sync-memory-'));
  const child = spawn(
    process.execPath,
    ['--expose-gc', '--import', 'tsx', CHILD, platform, String(n), JSON.stringify(ready), dir],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, LOG_LEVEL: 'silent', CACHE_DIR: join(dir, 'cache') },
    },
  );
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
  });
  child.stderr.setEncoding('utf8').on('data', (c: string) => {
    stderr += c;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  if (code !== 0)
    throw new Error(`memory-child ${platform} ${n} exited with ${code}: ${stderr.slice(-2000)}`);
  return JSON.parse(stdout.trim()) as MemoryReport;
}
