/**
 * `npm run bench -- sync [people] [churn]`: plan + sync of a large audience against the fake Meta
 * (a loopback HTTP server in a child process): first the full upload, then a day with `churn`
 * of the audience leaving and as many joining. Prints requests sent versus the theoretical
 * minimum, time and peak RSS of this process.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createConnectorContext } from '../connectors/core/context.js';
import { metaConnector } from '../connectors/meta/index.js';
import type { PersonRecord } from '../src/contract/records.js';
import { createLogger } from '../src/log.js';
import { FsObjectStore } from '../src/storage/fs-store.js';
import { writeJsonl } from '../src/storage/jsonl.js';
import { keys } from '../src/storage/keys.js';
import { syncAudience } from '../src/sync/execute.js';
import { peakRssMiB, report, timed } from './_report.js';

const AUD = 'bench_audience';

function person(i: number): PersonRecord {
  return {
    customer_id: `c${String(i).padStart(8, '0')}`,
    email: `shopper${i}@example.com`,
    phone: `+1415${String(i % 10_000_000).padStart(7, '0')}`,
    country: 'US',
    ts: '2026-11-27T00:00:00.000Z',
  };
}

async function writeDay(store: FsObjectStore, day: string, ids: number[]): Promise<void> {
  ids.sort((a, b) => a - b);
  await writeJsonl(
    store,
    keys.peopleSnapshot(day),
    (function* () {
      for (const i of ids) yield person(i);
    })(),
  );
  await writeJsonl(
    store,
    keys.members(AUD, day),
    (function* () {
      let rank = 0;
      for (const i of ids)
        yield {
          customer_id: person(i).customer_id,
          group: 'treatment',
          score: 0,
          rank: ++rank,
          entered: day,
        };
    })(),
  );
}

export async function run(args: string[]): Promise<void> {
  const people = Number(args[0] ?? 1_000_000);
  const churn = Number(args[1] ?? 0.1);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./_fake-meta-server.ts', import.meta.url).pathname],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const url = await new Promise<string>((resolve) =>
    createInterface({ input: child.stdout! }).once('line', resolve),
  );
  const dir = await mkdtemp(join(tmpdir(), 'bench-sync-'));
  const store = new FsObjectStore(dir);
  try {
    let requests = 0;
    let uploads = 0;
    const countingFetch: typeof fetch = (input, init) => {
      requests += 1;
      if (/\/users(\?|$)/.test(String(input))) uploads += 1;
      return fetch(input, init);
    };
    const ctx = createConnectorContext(metaConnector, {
      destination: 'meta',
      config: { type: 'meta', ad_account_id: 'act_1', access_token: 'meta-test-token' },
      env: { META_GRAPH_URL: url },
      log: createLogger({ level: 'silent' }),
      fetch: countingFetch,
    });
    const sync = (day: string) =>
      syncAudience({
        store,
        audienceId: AUD,
        day,
        destination: 'meta',
        connector: metaConnector,
        ctx,
        mode: { kind: 'audience' },
        runId: day,
        confirm: true,
      });

    const day1 = Array.from({ length: people }, (_, i) => i);
    await writeDay(store, '2026-11-27', day1);
    const first = await timed(() => sync('2026-11-27'));
    report(`day 1: upload ${people.toLocaleString('en-US')} people`, first.seconds, 's');
    report('day 1: upload requests sent', uploads, '');
    report('day 1: all requests (audience find/create, size read)', requests, '');
    report('day 1: minimum upload requests', Math.ceil(people / 10_000), '');

    const leave = Math.round(people * churn);
    const day2 = [...day1.slice(leave), ...Array.from({ length: leave }, (_, i) => people + i)];
    await writeDay(store, '2026-11-28', day2);
    const before = requests;
    const uploadsBefore = uploads;
    const second = await timed(() => sync('2026-11-28'));
    const minimum = Math.ceil(leave / 10_000) * 2;
    report(
      `day 2: plan + sync, ${(churn * 100).toFixed(0)}% churn (${leave.toLocaleString('en-US')} out, ${leave.toLocaleString('en-US')} in)`,
      second.seconds,
      's',
    );
    report('day 2: upload requests sent', uploads - uploadsBefore, '');
    report('day 2: all requests (plus audience check, size read)', requests - before, '');
    report('day 2: minimum upload requests ceil(changes/10,000)', minimum, '');
    report('day 2: plan requests counted by the engine', second.result.plan.requests, '');
    report('peak RSS (this process)', peakRssMiB(), 'MiB');
  } finally {
    child.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  }
}
