/**
 * `audience-sync sync` run again and again as a user runs it — a new process each time, against the
 * fake Meta — with one REDIS_URL. Each run syncs a new day whose treatment differs from the day
 * before (a tenth of the people leave, others come back), so every run takes the lock, sends adds
 * and removes, and must end with the platform holding exactly that day's treatment.
 *
 * The test (consecutive-syncs.test.ts) runs a few; for the figures, run it by hand:
 *   npx tsx test/redis/consecutive-syncs.ts 50
 * which starts a password-protected redis-server of its own (and TLS when the build has it) and
 * also uses database 10 of $REDIS_URL (default redis://127.0.0.1:6379).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { metaConnector } from '../../connectors/meta/index.js';
import { addDays } from '../../src/contract/days.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { type FakeMeta, startFakeMeta } from '../fakes/meta.js';
import { personFor, treatment, writeDay } from '../sync/helpers.js';
import { redisSupportsTls, startTestRedis } from './server.js';

const BIN = new URL('../../bin/audience-sync.js', import.meta.url).pathname;
const FIRST_DAY = '2026-10-01';
const PEOPLE = 150;

const CONFIG = `
version: 1
destinations:
  meta:
    type: meta
    ad_account_id: act_1234
    access_token: "\${CONSECUTIVE_META_TOKEN}"
    batch_size: 50
audiences:
  - id: buyers
    type: segment
    when: { event: order_completed, within_days: 7 }
    sync: [meta]
`;

export interface ConsecutiveSyncResult {
  label: string;
  runs: number;
  failures: number;
  /** The first failures' exit codes and last lines of stderr (never the REDIS_URL's password). */
  failed: { run: number; code: number | null; stderr: string }[];
  ms: number;
}

/** Exactly who is in the treatment on the i-th day: everyone but one person in ten, a different tenth each day. */
function membersOn(i: number) {
  return Array.from({ length: PEOPLE }, (_, p) => personFor(p)).filter((_, p) => p % 10 !== i % 10);
}

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export async function runConsecutiveSyncs(options: {
  label: string;
  redisUrl: string;
  runs: number;
  /** Extra environment (NODE_EXTRA_CA_CERTS for a test certificate). */
  env?: Record<string, string>;
}): Promise<ConsecutiveSyncResult> {
  const root = await mkdtemp(join(tmpdir(), 'audience-sync-consecutive-'));
  const fake: FakeMeta = await startFakeMeta();
  const store = new FsObjectStore(join(root, 'store'));
  const result: ConsecutiveSyncResult = { label: options.label, runs: 0, failures: 0, failed: [], ms: 0 };
  const started = Date.now();
  try {
    await writeFile(join(root, 'audience-sync.yaml'), CONFIG);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      ...options.env,
      CONFIG: join(root, 'audience-sync.yaml'),
      STORE_URL: join(root, 'store'),
      REDIS_URL: options.redisUrl,
      // Chains run side by side, two of them on one redis-server and database: each needs its own
      // prefix, or they share the lock of meta.buyers (a clock-based prefix collided in CI).
      QUEUE_PREFIX: `consecutive-${randomBytes(6).toString('hex')}`,
      META_GRAPH_URL: fake.url,
      CONSECUTIVE_META_TOKEN: fake.state.token,
      LOG_LEVEL: 'warn',
    };
    let lastToken = 0;
    for (let i = 0; i < options.runs; i++) {
      const day = addDays(FIRST_DAY, i);
      const members = membersOn(i);
      await writeDay(store, day, 'buyers', members, treatment(members));
      const { code, stdout, stderr } = await runCli(['sync', '--date', day, '--json'], env);
      result.runs += 1;
      const problem = code === 0 ? checkRun(stdout, lastToken, fake, members) : `exit ${code}`;
      if (!problem) lastToken = fencingTokenOf(stdout);
      if (problem) {
        result.failures += 1;
        if (result.failed.length < 5) {
          result.failed.push({
            run: i + 1,
            code,
            stderr: `${problem}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`,
          });
        }
      }
    }
  } finally {
    result.ms = Date.now() - started;
    await fake.close();
    await rm(root, { recursive: true, force: true });
  }
  return result;
}

type CliRun = { status: string; fencing_token?: number };

function fencingTokenOf(stdout: string): number {
  return (JSON.parse(stdout) as { runs: CliRun[] }).runs[0]?.fencing_token ?? 0;
}

/** What is wrong with a run that exited 0, or undefined. */
function checkRun(
  stdout: string,
  lastToken: number,
  fake: FakeMeta,
  members: ReturnType<typeof membersOn>,
): string | undefined {
  const run = (JSON.parse(stdout) as { runs: CliRun[] }).runs[0];
  if (run?.status !== 'completed') return `status ${run?.status}`;
  // A run that fell back to the local lock would prove nothing about Redis.
  if (run.fencing_token === undefined || run.fencing_token <= lastToken) {
    return `fencing token ${run.fencing_token} after ${lastToken}: the Redis lock was not used`;
  }
  if (
    !platformHolds(
      fake,
      members.map((p) => metaConnector.matchKeys(p)!.email!),
    )
  ) {
    return 'the platform does not hold the treatment';
  }
  return undefined;
}

function platformHolds(fake: FakeMeta, emails: string[]): boolean {
  const audience = [...fake.state.audiences.values()].find((a) => !a.deleted);
  if (!audience) return false;
  const held = new Set([...audience.members.values()].map((m) => m.EMAIL));
  return held.size === emails.length && emails.every((e) => held.has(e));
}

async function main(): Promise<void> {
  const runs = Number(process.argv[2] ?? 50);
  const shared = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  shared.pathname = '/10';
  const tls = await redisSupportsTls();
  const server = await startTestRedis({ tls });
  try {
    const results = [
      await runConsecutiveSyncs({ label: 'redis://127.0.0.1:6379/10', redisUrl: shared.toString(), runs }),
      await runConsecutiveSyncs({ label: 'password, /10', redisUrl: `${server.url}/10`, runs }),
    ];
    if (server.tlsUrl && server.caFile) {
      results.push(
        await runConsecutiveSyncs({
          label: 'password, rediss://, /10',
          redisUrl: `${server.tlsUrl}/10`,
          runs,
          env: { NODE_EXTRA_CA_CERTS: server.caFile },
        }),
      );
    }
    for (const r of results) {
      process.stdout.write(
        `${r.label}: ${r.runs} runs, ${r.failures} failures, ${(r.ms / 1000).toFixed(1)} s\n`,
      );
      for (const f of r.failed)
        process.stdout.write(`  run ${f.run}: ${f.stderr}\n`.split(server.password).join('[redacted]'));
    }
    if (results.some((r) => r.failures > 0)) process.exitCode = 1;
  } finally {
    await server.stop();
  }
}

if (process.argv[1] && new URL(import.meta.url).pathname === process.argv[1]) await main();
