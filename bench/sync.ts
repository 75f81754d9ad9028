/**
 * `npm run bench -- sync [people=1000000] [churn=0.1] [--first-only] [--platform meta|google_ads|tiktok]
 *   [--changed 0.01] [--runtime auto|dist|source] [--seed 1] [--keep]`
 *
 * End-to-end figures of the sync, the whole process as a user runs it: the inputs a build leaves
 * (people snapshot and an audience of `people` members in rank order, bench/_sync-inputs.ts) are
 * generated into a temporary filesystem store, then each day `audience-sync sync --date D --json`
 * runs as its own process (bench/_sync-process.ts) against a fake platform in another process
 * (bench/_fake-platform-server.ts, count-only). Per day it prints the wall time and peak RSS of
 * the sync process, and the upload requests the fake received against the minimum: one per
 * `batch_size` (10,000) changes per operation — and, for Google, per consent group, since a job
 * carries one consent state. Day 1 uploads everyone; day 2 has `churn` of the audience leaving,
 * as many joining, and `--changed` of those who stay with a new email or phone.
 *
 * The sync process gets CONFIG (a YAML written here: one destination, batch_size 10,000),
 * STORE_URL, the platform's base-URL variables, its secrets, LOG_LEVEL=warn, and a REDIS_URL on a
 * closed port: the CLI then takes its local lock, whatever Redis runs on this machine.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsObjectStore } from '../src/storage/fs-store.js';
import type { SyncRunRecord } from '../src/sync/run-record.js';
import { peakRssMiB, report, timed } from './_report.js';
import { AUDIENCE, DAY1, DAY2, type Expected, type Scenario, writeDay1, writeDay2 } from './_sync-inputs.js';
import { type FakeReady, type FakeStats, type PlatformId, startFakePlatform } from './_sync-ipc.js';
import { chooseRuntime, type RuntimeChoice, runSyncProcess } from './_sync-process.js';

const BATCH = 10_000;
const PLATFORMS: Record<string, PlatformId> = {
  meta: 'meta',
  google: 'google_ads',
  google_ads: 'google_ads',
  tiktok: 'tiktok',
};
const DESTINATION: Record<PlatformId, string> = { meta: 'meta', google_ads: 'google', tiktok: 'tiktok' };

interface Options {
  scenario: Scenario;
  firstOnly: boolean;
  runtime: RuntimeChoice;
  keep: boolean;
}

function parseArgs(args: string[]): Options {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (!arg.startsWith('--')) {
      // `people=1000000` and `churn=0.1` read as the bare numbers.
      positional.push(arg.replace(/^(people|churn)=/, ''));
      continue;
    }
    const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
    if (['first-only', 'keep'].includes(name)) flags.set(name, true);
    else if (['platform', 'runtime', 'changed', 'seed'].includes(name)) {
      const value = inline ?? args[++i];
      if (value === undefined) throw new Error(`--${name} needs a value`);
      flags.set(name, value);
    } else throw new Error(`unknown option --${name}`);
  }
  const people = Number(positional[0] ?? 1_000_000);
  const churn = Number(positional[1] ?? 0.1);
  const changed = Number(flags.get('changed') ?? 0.01);
  const seed = Number(flags.get('seed') ?? 1);
  const platform = PLATFORMS[String(flags.get('platform') ?? 'meta')];
  const runtime = String(flags.get('runtime') ?? 'auto') as RuntimeChoice;
  if (!Number.isInteger(people) || people < 1) throw new Error(`people must be a positive integer`);
  if (!(churn >= 0 && churn <= 1)) throw new Error('churn must be between 0 and 1');
  if (!(changed >= 0 && changed <= 1)) throw new Error('--changed must be between 0 and 1');
  if (!Number.isInteger(seed)) throw new Error('--seed must be an integer');
  if (!platform) throw new Error('--platform must be meta, google_ads or tiktok');
  if (!['auto', 'dist', 'source'].includes(runtime))
    throw new Error('--runtime must be auto, dist or source');
  return {
    scenario: { people, churn, changed, platform, seed },
    firstOnly: flags.has('first-only'),
    runtime,
    keep: flags.has('keep'),
  };
}

export async function run(args: string[]): Promise<void> {
  let options: Options;
  try {
    options = parseArgs(args);
  } catch (error) {
    process.stderr.write(
      `${(error as Error).message}\nusage: npm run bench -- sync [people] [churn] [--first-only] [--platform meta|google_ads|tiktok] [--changed share] [--runtime auto|dist|source] [--seed n] [--keep]\n`,
    );
    process.exitCode = 2;
    return;
  }
  const { scenario } = options;
  const runtime = await chooseRuntime(options.runtime);
  const fake = await startFakePlatform(scenario.platform);
  const root = await mkdtemp(join(tmpdir(), 'bench-sync-'));
  const store = new FsObjectStore(join(root, 'store'));
  try {
    const config = join(root, 'audience-sync.yaml');
    await writeFile(config, configYaml(scenario.platform));
    const env = childEnv(process.env, {
      CONFIG: config,
      STORE_URL: join(root, 'store'),
      LOG_LEVEL: 'warn',
      REDIS_URL: `redis://127.0.0.1:${await closedPort()}`,
      ...platformEnv(fake.ready),
    });

    const n = scenario.people;
    const leave = Math.round(n * scenario.churn);
    line(
      `sync, end to end: fake ${scenario.platform} in its own process (count-only); each day ` +
        '`audience-sync sync --date D --json` as its own process, local lock',
    );
    line(`sync process runs ${runtime.describe}`);
    line(
      `sync process environment: CONFIG (written here), STORE_URL (a temporary folder), ${Object.keys(
        platformEnv(fake.ready),
      ).join(', ')}, LOG_LEVEL=warn, REDIS_URL on a closed port (so the local lock)`,
    );
    line(
      `inputs: ${fmt(n)} members in rank order, snapshot in customer_id order` +
        (options.firstOnly
          ? ''
          : `; day 2: ${fmt(leave)} leave, ${fmt(leave)} join, ${(scenario.changed * 100).toFixed(1)}% of those who stay change an identifier`) +
        ` (seed ${scenario.seed}, batch_size ${fmt(BATCH)})`,
    );

    const days: { day: string; write: () => Promise<Expected> }[] = [
      { day: DAY1, write: () => writeDay1(store, scenario) },
    ];
    if (!options.firstOnly) days.push({ day: DAY2, write: () => writeDay2(store, scenario) });
    let failed = false;
    let fakeCpu = (await fake.stats()).cpuSeconds;
    for (const [i, { day, write }] of days.entries()) {
      const label = `day ${i + 1}`;
      const generated = await timed(write);
      const expected = generated.result;
      report(`${label}: inputs written (bench process, streamed)`, generated.seconds, 's');
      // Days after the first are plain daily syncs; --confirm only where a guard would stop a
      // plan this scenario asks for (more than 30% leaving, or a tiny audience).
      const confirm = scenario.churn > 0.3 || n < 1000 ? ['--confirm'] : [];
      const result = await runSyncProcess(
        runtime,
        ['sync', '--date', day, '--json', ...confirm],
        env,
        join(root, `usage-${day}.json`),
      );
      const stats = await fake.stats();
      report(`${label}: whole sync process, wall time`, result.seconds, 's');
      report(
        `${label}: peak RSS of the sync process${result.rssSource === 'exit hook' ? '' : ' (VmHWM poll)'}`,
        result.peakRssMiB,
        'MiB',
      );
      if (result.peakHeapMiB !== undefined)
        report(`${label}: peak V8 heap of the sync process, sampled`, result.peakHeapMiB, 'MiB');
      report(`${label}: CPU time of the fake platform meanwhile`, stats.cpuSeconds - fakeCpu, 's');
      fakeCpu = stats.cpuSeconds;
      const record = runRecord(result.stdout);
      const stderr = result.stderr.trim().split('\n').filter(Boolean);
      if (result.code !== 0 || record?.status !== 'completed') {
        failed = true;
        warn(
          `${label}: the sync ${result.code === 0 ? `ended ${record?.status ?? 'without a run record'}` : `exited with ${result.signal ?? `code ${result.code}`}`}: ` +
            (record?.error?.message ?? stderr.slice(-3).join(' | ')),
        );
      } else if (stderr.length > 0) {
        line(
          `  ${label}: the sync logged ${stderr.length} line(s) on stderr, first: ${stderr[0]!.slice(0, 300)}`,
        );
      }
      printCounts(label, scenario.platform, expected, stats, record);
      // A later day measured on top of a failed one would measure something else.
      if (failed) break;
    }
    const last = await fake.stats();
    report('peak RSS of the fake platform process', last.maxRssKiB / 1024, 'MiB');
    report('peak RSS of this bench process (input generator)', peakRssMiB(), 'MiB');
    if (options.keep) line(`store kept in ${join(root, 'store')}`);
    if (failed) process.exitCode = 1;
  } finally {
    await fake.close();
    if (!options.keep) await rm(root, { recursive: true, force: true });
  }
}

/** Changes and requests of one day against what the inputs call for. */
function printCounts(
  label: string,
  platform: PlatformId,
  expected: Expected,
  stats: FakeStats,
  record: SyncRunRecord | undefined,
): void {
  const sum = (op: string) => stats.uploads.filter((u) => u.op === op).reduce((a, u) => a + u.rows, 0);
  const expectedAdds = [...expected.adds.values()].reduce((a, b) => a + b, 0);
  const added = sum('add');
  const removed = sum('remove');
  count(`${label}: people added, of ${fmt(expectedAdds)} expected`, added);
  count(`${label}: people removed, of ${fmt(expected.removes)} expected`, removed);
  const requests = stats.uploads.reduce((a, u) => a + u.requests, 0);
  // The minimum from the inputs, not from what was sent: sending too much shows up here too.
  const perGroup = platform === 'google_ads';
  const minimum =
    (perGroup
      ? [...expected.adds.values()].reduce((a, k) => a + Math.ceil(k / BATCH), 0)
      : Math.ceil(expectedAdds / BATCH)) + Math.ceil(expected.removes / BATCH);
  count(`${label}: upload requests received by the fake`, requests);
  count(
    perGroup
      ? `${label}: minimum, per operation and consent group`
      : `${label}: minimum, ceil(changes/${fmt(BATCH)}) per op`,
    minimum,
  );
  if (perGroup) {
    // For reference, the plan's own count, consent aside: a batch that mixes k consent groups
    // takes k addOperations requests (one job per group), so the minimum above is only reached by
    // an engine that cuts batches per group.
    const pushes = Math.ceil(expectedAdds / BATCH) + Math.ceil(expected.removes / BATCH);
    count(`${label}: batches of ${fmt(BATCH)} the plan needs`, pushes);
  }
  count(`${label}: all requests received by the fake`, stats.requests);
  count(`${label}: members held, of ${fmt(expected.desired)} expected`, stats.members);
  if (requests !== minimum) {
    const detail = stats.uploads
      .map(
        (u) => `${u.op}${u.group ? ` ${u.group}` : ''}: ${fmt(u.requests)} requests, ${fmt(u.rows)} people`,
      )
      .join('; ');
    const wanted = [...expected.adds.entries()]
      .map(([g, k]) => `add${g ? ` ${g}` : ''}: ${fmt(k)}`)
      .concat(`remove: ${fmt(expected.removes)}`)
      .join('; ');
    line(`  ${label}: received ${detail || 'nothing'} (inputs: ${wanted})`);
  }
  if (added !== expectedAdds || removed !== expected.removes || stats.members !== expected.desired)
    warn(`${label}: the platform did not receive exactly the changes the inputs call for`);
  if (stats.shapeErrorCount > 0)
    warn(
      `${label}: ${stats.shapeErrorCount} request(s) broke the platform's contract: ${stats.shapeErrors.join('; ')}`,
    );
  if (record && (record.plan.add !== expectedAdds || record.plan.remove !== expected.removes))
    warn(
      `${label}: the run record plans +${fmt(record.plan.add)} −${fmt(record.plan.remove)}, the inputs call for +${fmt(expectedAdds)} −${fmt(expected.removes)}`,
    );
}

function runRecord(stdout: string): SyncRunRecord | undefined {
  try {
    return (JSON.parse(stdout) as { runs: SyncRunRecord[] }).runs[0];
  } catch {
    return undefined;
  }
}

// --- the fake platform process ------------------------------------------------------------------

// --- configuration of the sync process ----------------------------------------------------------

function configYaml(platform: PlatformId): string {
  const destination =
    platform === 'meta'
      ? `    type: meta
    ad_account_id: act_1234
    access_token: "\${BENCH_META_TOKEN}"`
      : platform === 'google_ads'
        ? `    type: google_ads
    customer_id: "1234567890"
    developer_token: "\${BENCH_GOOGLE_DEVELOPER_TOKEN}"
    client_id: "\${BENCH_GOOGLE_CLIENT_ID}"
    client_secret: "\${BENCH_GOOGLE_CLIENT_SECRET}"
    refresh_token: "\${BENCH_GOOGLE_REFRESH_TOKEN}"
    poll_interval_seconds: 0.1`
        : `    type: tiktok
    advertiser_id: "7000000000"
    access_token: "\${BENCH_TIKTOK_TOKEN}"`;
  return `version: 1
destinations:
  ${DESTINATION[platform]}:
${destination}
    batch_size: ${BATCH}
audiences:
  - id: ${AUDIENCE}
    type: segment
    when: { event: order_completed, within_days: 30 }
    sync: [${DESTINATION[platform]}]
`;
}

function platformEnv(ready: FakeReady): Record<string, string> {
  if (ready.platform === 'meta') return { META_GRAPH_URL: ready.url, BENCH_META_TOKEN: ready.token };
  if (ready.platform === 'tiktok') return { TIKTOK_API_URL: ready.url, BENCH_TIKTOK_TOKEN: ready.token };
  const g = ready.google!;
  return {
    GOOGLE_ADS_API_URL: ready.url,
    GOOGLE_OAUTH_TOKEN_URL: ready.tokenUrl!,
    BENCH_GOOGLE_DEVELOPER_TOKEN: g.developer_token,
    BENCH_GOOGLE_CLIENT_ID: g.client_id,
    BENCH_GOOGLE_CLIENT_SECRET: g.client_secret,
    BENCH_GOOGLE_REFRESH_TOKEN: g.refresh_token,
  };
}

/** This process's environment without anything that would point the sync elsewhere, plus `set`. */
function childEnv(base: NodeJS.ProcessEnv, set: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  const foreign =
    /^(REDIS_URL|QUEUE_PREFIX|CONFIG|STORE_URL|LOG_LEVEL|NODE_OPTIONS|S3_.*|AWS_.*|META_.*|GOOGLE_.*|TIKTOK_.*|CIO_.*)$/;
  for (const [k, v] of Object.entries(base)) if (!foreign.test(k)) env[k] = v;
  return { ...env, ...set };
}

/** A loopback port nothing listens on (taken and released), for a REDIS_URL that never answers. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A count, aligned as `report` aligns figures (which prints small numbers with decimals). */
function count(label: string, n: number): void {
  process.stdout.write(`${label.padEnd(48)} ${fmt(n).padStart(14)}\n`);
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function line(text: string): void {
  process.stdout.write(`${text}\n`);
}

function warn(text: string): void {
  process.stdout.write(`WARNING ${text}\n`);
}
