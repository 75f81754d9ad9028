/**
 * One step of `npm run bench -- build`, run in a process of its own so its time is the whole
 * process's and its peak RSS is its own. Prints one JSON line: what it did, seconds inside the
 * process, and peak RSS.
 *
 *   plain --dir D --day DAY     the example audiences as plain DuckDB SQL over the raw gzip JSON Lines
 *                               (read_json over the window's files; the people snapshot of DAY as built)
 *   people --dir D --day DAY    the people snapshot of DAY (preparation for `plain`)
 *   build --dir D --day DAY     compaction of the closed days (as of the end of DAY), then the build of DAY
 *   compact --dir D --day DAY   only the compaction of the closed days, as `audience-sync compact` (the
 *                               pipeline's compact stage) runs it
 *   build-only --dir D --day DAY  only the build of DAY (people snapshot and audiences), as
 *                               `audience-sync build` (the pipeline's people and build stages) runs it
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildAudiences } from '../src/audiences/build.js';
import { buildOrder } from '../src/audiences/config.js';
import { duckdb } from '../src/audiences/sql/dialect.js';
import { audienceStatements, compileBuildPlan } from '../src/audiences/sql/plan.js';
import { compactClosedDays } from '../src/compaction/compact.js';
import { DEFAULT_GRACE_HOURS } from '../src/compaction/config.js';
import { engineEnvFrom, engineSettingsFromEnv } from '../src/compaction/engine-settings.js';
import { loadAudienceSyncConfig } from '../src/config-file.js';
import { addDays, dayRange } from '../src/contract/days.js';
import { Engine, sqlString } from '../src/engine/duckdb.js';
import { dataColumns, peopleSnapshotRelation } from '../src/engine/raw.js';
import { updatePeopleSnapshot } from '../src/people/snapshot.js';
import { FsObjectStore } from '../src/storage/fs-store.js';
import { keys } from '../src/storage/keys.js';

const [step, ...args] = process.argv.slice(2);
const arg = (name: string) => {
  const i = args.indexOf(`--${name}`);
  if (i < 0 || args[i + 1] === undefined) throw new Error(`--${name} is required`);
  return args[i + 1]!;
};
const dir = arg('dir');
const day = arg('day');
const store = new FsObjectStore(dir);
const { config } = await loadAudienceSyncConfig('audience-sync.example.yaml', {});
const out: Record<string, unknown> = { step, day };

/** The compaction of the days closed by the end of DAY, as `audience-sync compact` runs it. */
async function compact(): Promise<void> {
  // Closed days are those whose grace period has passed at the end of the build day.
  const now = new Date(`${addDays(day, 1)}T00:00:00.000Z`);
  // With the environment's engine limits, as the refresh's compaction stage runs it.
  const settings = engineSettingsFromEnv(engineEnvFrom());
  const compaction = await compactClosedDays({ store, now, graceHours: DEFAULT_GRACE_HOURS, settings });
  out.compaction = {
    seconds: compaction.seconds,
    days: compaction.days.length,
    parts: compaction.parts_compacted,
    rows: compaction.rows,
    bytes_before: compaction.bytes_before,
    bytes_after: compaction.bytes_after,
  };
}

/** The build of DAY, as `audience-sync build` runs it: the people snapshot, then every audience. */
async function build(): Promise<void> {
  const result = await buildAudiences({ store, config, day });
  out.people_seconds = result.people.seconds;
  out.engine = result.engine;
  out.members = Object.fromEntries(result.audiences.map((m) => [m.audience, m.counts.selected]));
}

if (step === 'plain') {
  const plan = compileBuildPlan({
    dialect: duckdb,
    day,
    audiences: buildOrder(config.audiences),
    neverSend: config.never_send,
    traits: config.traits,
    scoreTables: config.score_tables,
  });
  const engine = await Engine.open();
  await engine.run(
    `CREATE VIEW people_snapshot AS ${peopleSnapshotRelation(store.localPath(keys.peopleSnapshot(day)))}`,
  );
  for (const dataset of ['events', 'messages'] as const) {
    const from = plan.fromDay[dataset];
    if (!from) continue;
    const files: string[] = [];
    for (const d of dayRange(from, day)) {
      const folder = join(dir, 'raw', dataset, `dt=${d}`);
      for (const f of await readdir(folder).catch(() => [] as string[]))
        if (f.endsWith('.jsonl.gz')) files.push(join(folder, f));
    }
    const columns = dataColumns(dataset)
      .map((c) => `${c}: '${c === 'properties' ? 'JSON' : 'VARCHAR'}'`)
      .join(', ');
    await engine.run(
      `CREATE VIEW raw_${dataset} AS SELECT filename AS _key, CAST(NULL AS BIGINT) AS _line, CAST(NULL AS VARCHAR) AS _malformed, * EXCLUDE (filename)
       FROM read_json([${files.map(sqlString).join(', ')}], format = 'newline_delimited', columns = {${columns}},
         filename = true, ignore_errors = true)`,
    );
  }
  for (const s of plan.shared) await engine.run(duckdb.createTable(s.name, s.select));
  const tables = new Map<string, string>();
  const members: Record<string, number> = {};
  for (const a of plan.audiences) {
    await engine.run(
      `CREATE VIEW previous_${a.table} AS SELECT CAST(NULL AS VARCHAR) AS customer_id, CAST(NULL AS VARCHAR) AS entered WHERE false`,
    );
    for (const s of audienceStatements(duckdb, plan, a, tables))
      await engine.run(duckdb.createTable(s.name, s.select));
    tables.set(a.definition.id, a.table);
    const [row] = await engine.all<{ n: number }>(`SELECT count(*) AS n FROM ${a.table}`);
    members[a.definition.id] = row!.n;
  }
  engine.close();
  out.members = members;
} else if (step === 'people') {
  const manifest = await updatePeopleSnapshot({ store, day });
  out.people = manifest.people;
} else if (step === 'compact') {
  await compact();
} else if (step === 'build-only') {
  await build();
} else if (step === 'build') {
  await compact();
  await build();
} else {
  throw new Error(`unknown step ${step}`);
}
out.process_seconds = process.uptime();
out.peak_rss_mib = process.resourceUsage().maxRSS / 1024;
process.stdout.write(`${JSON.stringify(out)}\n`);
