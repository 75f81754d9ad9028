/**
 * `npm run bench -- build [--people N] [--days D] [--seed S] [--dir PATH] [--regenerate]`
 *
 * Generates N people × D days (default 1,000,000 × 30) with `audience-sync generate` in a child
 * process (so its memory does not count here), then builds the example audiences from scratch in
 * this process: people snapshot, one streaming scan, every audience. Reports records scanned per
 * second, time per audience and peak RSS. The dataset is kept under bench/out/ and reused when its
 * parameters match.
 */
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { buildAudiences } from '../src/audiences/build.js';
import { loadAudienceConfig } from '../src/audiences/config.js';
import { GENERATED_KEY, type GenerateResult } from '../src/generate/dataset.js';
import { FsObjectStore } from '../src/storage/fs-store.js';
import { listKeys, readJsonIfExists } from '../src/storage/object-store.js';
import { peakRssMiB, report } from './_report.js';

const END = '2026-11-27';

function arg(args: string[], name: string, fallback: string): string {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1]! : fallback;
}

export async function run(args: string[]): Promise<void> {
  const people = Number(arg(args, 'people', '1000000'));
  const days = Number(arg(args, 'days', '30'));
  const seed = Number(arg(args, 'seed', '1'));
  const dir = resolve(arg(args, 'dir', `bench/out/build-${people}x${days}-s${seed}`));
  const store = new FsObjectStore(dir);

  const existing = await readJsonIfExists<GenerateResult>(store, GENERATED_KEY);
  const matches =
    existing && existing.people === people && existing.days.to === END && existing.seed === seed;
  if (!matches || args.includes('--regenerate')) {
    await store.delete(await listKeys(store, ''));
    process.stdout.write(`generating ${people} people × ${days} days into ${dir} ...\n`);
    const started = Date.now();
    const child = spawnSync(
      process.execPath,
      [
        'bin/audience-sync.js',
        'generate',
        '--people',
        String(people),
        '--days',
        String(days),
        '--seed',
        String(seed),
        '--end-date',
        END,
      ],
      { stdio: 'inherit', env: { ...process.env, STORE_URL: dir } },
    );
    if (child.status !== 0) throw new Error(`generate failed with exit code ${child.status}`);
    report('generate (child process)', (Date.now() - started) / 1000, 's');
  }
  const generated = (await readJsonIfExists<GenerateResult>(store, GENERATED_KEY))!;
  // A fresh build: no earlier snapshots to start from.
  await store.delete([...(await listKeys(store, 'people/')), ...(await listKeys(store, 'audiences/'))]);

  const { config } = await loadAudienceConfig('audience-sync.example.yaml', {});
  const started = process.hrtime.bigint();
  const result = await buildAudiences({ store, config, day: END });
  const total = Number(process.hrtime.bigint() - started) / 1e9;

  process.stdout.write(
    `\nbuild of ${config.audiences.length} example audiences, ${people} people × ${days} days ` +
      `(${generated.records.events + generated.records.messages} events + messages, ${generated.records.people} person updates)\n`,
  );
  report('people snapshot (from raw, no base)', result.people.seconds, 's');
  report('people in snapshot', result.people.people, 'people');
  report('records read (events + messages)', result.engine.records_scanned, 'records');
  report('engine: shared statements (read, dedupe, resolve, aggregate)', result.engine.seconds, 's');
  report('engine threads', result.engine.threads, '');
  for (const m of result.audiences) {
    report(
      `audience ${m.audience} (evaluate + write)`,
      m.timings.evaluate_seconds + m.timings.write_seconds,
      `s  [${m.counts.selected} members, ${m.records_scanned} records in window]`,
    );
  }
  report('total build (snapshot + scan + audiences)', total, 's');
  report('peak RSS', peakRssMiB(), 'MiB');
}
