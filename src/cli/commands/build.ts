import type { Command } from 'commander';
import type { BuildProgress, BuildResult } from '../../audiences/build.js';
import { addDays, isDay, today } from '../../contract/days.js';
import { CliError, EXIT, err, out, outJson } from '../output.js';

/**
 * `audience-sync build [--date D] [--audience id] [--json]`: brings the people snapshot up to date
 * and builds audience snapshots for day D in-process (the same function backs the BullMQ job).
 */
export function registerBuildCommand(program: Command): void {
  program
    .command('build')
    .description('build audience snapshots (members + manifest) for a day, in-process')
    .option('--date <day>', 'as-of day, YYYY-MM-DD (default: yesterday, the last complete UTC day)')
    .option('--audience <id>', 'build only this audience (and those it excludes); repeatable', collect, [])
    .option('--json', 'print the manifests as JSON')
    .action(async (opts: { date?: string; audience: string[]; json?: boolean }) => {
      const day = opts.date ?? addDays(today(), -1);
      if (!isDay(day)) throw new CliError(`--date must be a day as YYYY-MM-DD, got "${day}"`, EXIT.usage);
      const { buildAudiences } = await import('../../audiences/build.js');
      const { loadAudienceSyncConfig } = await import('../../config-file.js');
      const { getEnv } = await import('../../config/env.js');
      const { ensureLayout, openStore } = await import('../../storage/open-store.js');
      const env = getEnv();
      const loaded = await loadAudienceSyncConfig(env.CONFIG);
      if (loaded.config.audiences.length === 0) {
        throw new CliError(`${env.CONFIG} defines no audiences`, EXIT.usage);
      }
      const store = openStore(env.STORE_URL, env);
      try {
        await ensureLayout(store);
        const progress = opts.json ? undefined : await terminalProgress();
        const result = await buildAudiences({
          store,
          config: loaded.config,
          day,
          ...(opts.audience.length > 0 ? { audienceIds: opts.audience } : {}),
          ...(progress ? { onProgress: progress.update } : {}),
        });
        progress?.stop();
        if (opts.json) outJson(result);
        else printBuild(result);
        if (result.failed.length > 0)
          throw new CliError(
            `${result.failed.length} audience(s) not built for ${day}: ${result.failed.map((f) => `${f.audience} (score table ${f.table} ${f.reason})`).join(', ')}`,
            EXIT.failed,
          );
      } finally {
        await store.close();
      }
    });
}

function printBuild(result: BuildResult): void {
  const p = result.people;
  out(`day ${result.day}  run ${result.run_id}`);
  out(
    `  people snapshot: ${p.people} people${p.up_to_date ? ' (up to date)' : `, ${p.new_parts.length} new parts folded`}` +
      `, ${p.deleted} deleted, ${p.unsubscribed} unsubscribed` +
      (p.malformed_lines ? `, ${p.malformed_lines} malformed lines` : ''),
  );
  out(
    `  engine: ${result.engine.records_scanned} records (${result.engine.parts.parquet} Parquet, ${result.engine.parts.jsonl} JSON Lines parts)` +
      ` in ${result.engine.seconds.toFixed(1)} s on ${result.engine.threads} threads`,
  );
  for (const m of result.audiences) {
    const c = m.counts;
    const excluded = Object.entries(c.excluded)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    out(
      `  ${m.audience} (${m.type}): matched ${c.matched}, eligible ${c.eligible}` +
        (excluded ? ` [excluded: ${excluded}]` : '') +
        `, members ${c.selected} (treatment ${c.treatment}, holdout ${c.holdout})` +
        `, new ${m.entered.new}` +
        (m.unresolved_identities ? `, unresolved ${m.unresolved_identities}` : '') +
        (m.malformed_lines ? `, malformed lines ${m.malformed_lines}` : ''),
    );
  }
  for (const t of result.score_tables) {
    const typeErrors = Object.entries(t.type_errors)
      .filter(([, n]) => n > 0)
      .map(([c, n]) => `${c} ${n}`);
    out(
      `  score table ${t.table}: dt=${t.partition} (${t.age_days} days old), ${t.rows} rows, ${t.used_rows} used` +
        (t.missing_keys ? `, ${t.missing_keys} without customer_id` : '') +
        (t.duplicate_keys
          ? `, ${t.duplicate_keys} duplicate keys (${t.duplicate_rows} rows, not used)`
          : '') +
        (typeErrors.length ? `, wrong types: ${typeErrors.join(', ')}` : ''),
    );
  }
  for (const f of result.failed) out(`  ${f.audience}: NOT BUILT: ${f.message}`);
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** A progress bar on a terminal (stderr), nothing otherwise. */
async function terminalProgress(): Promise<
  { update: (p: BuildProgress) => void; stop: () => void } | undefined
> {
  if (!process.stderr.isTTY) return undefined;
  const { SingleBar } = await import('cli-progress');
  let phase = '';
  const bar = new SingleBar(
    { format: '{phase} [{bar}] {value}/{total}', stream: process.stderr, hideCursor: true },
    undefined,
  );
  let started = false;
  return {
    update: (p) => {
      const label = p.audience ? `${p.phase} ${p.audience}` : p.phase;
      if (!started) {
        bar.start(p.total, p.done, { phase: label });
        started = true;
      } else if (phase !== p.phase) {
        bar.setTotal(p.total);
      }
      phase = p.phase;
      bar.update(p.done, { phase: label });
    },
    stop: () => {
      if (started) bar.stop();
      else err('');
    },
  };
}
