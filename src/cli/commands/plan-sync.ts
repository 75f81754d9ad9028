import type { Command } from 'commander';
import { isDay } from '../../contract/days.js';
import type { StageContext } from '../../pipeline/stages.js';
import type { SyncTarget } from '../../pipeline/targets.js';
import type { SyncRunRecord } from '../../sync/run-record.js';
import { CliError, EXIT, err, out, outJson } from '../output.js';

interface TargetOptions {
  date?: string;
  audience?: string;
  destination?: string;
}

/** The targets a command covers, each with the day it uses (given, or the audience's latest build). */
async function resolveTargets(
  ctx: StageContext,
  opts: TargetOptions,
): Promise<{ target: SyncTarget; day: string }[]> {
  if (opts.date !== undefined && !isDay(opts.date)) {
    throw new CliError(`--date must be a day as YYYY-MM-DD, got ${JSON.stringify(opts.date)}`, EXIT.usage);
  }
  const { latestBuiltDay } = await import('../../audiences/members.js');
  const { selectedAudiences } = await import('../../pipeline/stages.js');
  const { syncTargets } = await import('../../pipeline/targets.js');
  const config = ctx.loaded.config;
  if (opts.audience && !config.audiences.some((a) => a.id === opts.audience)) {
    throw new CliError(
      `unknown audience "${opts.audience}" (configured: ${config.audiences.map((a) => a.id).join(', ') || 'none'})`,
      EXIT.usage,
    );
  }
  if (opts.destination && !config.destinations[opts.destination]) {
    throw new CliError(
      `unknown destination "${opts.destination}" (configured: ${Object.keys(config.destinations).join(', ') || 'none'})`,
      EXIT.usage,
    );
  }
  const audiences = opts.audience
    ? config.audiences.filter((a) => a.id === opts.audience)
    : selectedAudiences(config);
  const targets = syncTargets(audiences).filter(
    (t) => !opts.destination || t.destination === opts.destination,
  );
  const out: { target: SyncTarget; day: string }[] = [];
  for (const target of targets) {
    const day = opts.date ?? (await latestBuiltDay(ctx.store, target.audienceId));
    if (!day)
      throw new CliError(
        `audience "${target.audienceId}" has not been built yet: run audience-sync build first`,
        EXIT.failed,
      );
    out.push({ target, day });
  }
  return out;
}

export function registerPlanCommand(program: Command): void {
  program
    .command('plan')
    .description('show what a sync would change per destination (no requests, no credentials needed)')
    .option('--date <day>', 'audience snapshot day (default: the latest build)')
    .option('--audience <id>', 'only this audience')
    .option('--destination <name>', 'only this destination')
    .option('--json', 'print the full plan as JSON (customer ids and identifier types, never identifiers)')
    .action(async (opts: TargetOptions & { json?: boolean }) => {
      const { planTarget } = await import('../../pipeline/plan-report.js');
      const { openStageContext } = await import('../stage-context.js');
      const { ctx, close } = await openStageContext({ writes: false });
      try {
        const plans = [];
        for (const { target, day } of await resolveTargets(ctx, opts)) {
          plans.push(await planTarget(ctx, day, target, opts.json === true));
        }
        if (opts.json) return outJson({ plans });
        if (plans.length === 0) out('no audience syncs to any destination');
        for (const p of plans) {
          const c = p.counts;
          out(
            `${p.audience} → ${p.destination} (${p.connector}${p.kind === 'write_back' ? ', write-back' : ''}) ${p.day}: ` +
              `+${c.add} −${c.remove} (changed ${c.changed}, unchanged ${c.unchanged}), ${p.requests} request(s), ${c.ledger} → ${c.after} people`,
          );
          const m = p.members;
          if (m.no_identifiers || m.consent_excluded || m.holdout_excluded) {
            out(
              `    not sent: ${m.holdout_excluded} holdout, ${m.no_identifiers} without identifiers, ${m.consent_excluded} by consent`,
            );
          }
          for (const g of p.guards) out(`    needs --confirm: ${g.message}`);
        }
      } finally {
        await close();
      }
    });
}

export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description('send audience changes to destinations (resumes an interrupted run)')
    .option('--date <day>', 'audience snapshot day (default: the latest build)')
    .option('--audience <id>', 'only this audience')
    .option('--destination <name>', 'only this destination')
    .option('--dry-run', 'write the exact requests to outbox/ instead of sending them')
    .option('--confirm', 'apply a plan the safety guards stopped')
    .option('--replace', "replace the platform audience's contents entirely (repairs drift)")
    .option('--force', 're-run a day that already completed')
    .option('--json', 'print the run records as JSON')
    .action(
      async (
        opts: TargetOptions & {
          dryRun?: boolean;
          confirm?: boolean;
          replace?: boolean;
          force?: boolean;
          json?: boolean;
        },
      ) => {
        const { runSyncStage } = await import('../../pipeline/stages.js');
        const { PlatformAudienceDeletedError, SyncBlockedError } = await import('../../sync/execute.js');
        const { createProgress } = await import('../progress.js');
        const { openStageContext } = await import('../stage-context.js');
        const { ctx, close } = await openStageContext();
        const progress = createProgress(!opts.json && process.stderr.isTTY === true);
        const records: SyncRunRecord[] = [];
        let blocked = false;
        let failed = false;
        try {
          const dryRunId = `dry-${new Date().toISOString().replace(/[-:.]/g, '').slice(0, 15)}`;
          for (const { target, day } of await resolveTargets(ctx, opts)) {
            const label = `${target.audienceId} → ${target.destination}`;
            try {
              const record = await runSyncStage(ctx, {
                day,
                target,
                runId: opts.dryRun ? dryRunId : day,
                ...(opts.dryRun ? { dryRun: true } : {}),
                ...(opts.confirm ? { confirm: true } : {}),
                ...(opts.replace ? { replace: true } : {}),
                ...(opts.force ? { force: true } : {}),
                onProgress: (p) => progress.update(p.done, p.total, `${label} ${p.phase}`),
              });
              progress.stop();
              records.push(record);
              if (record.status === 'failed') failed = true;
              if (!opts.json) printRecord(label, record);
            } catch (error) {
              progress.stop();
              if (error instanceof SyncBlockedError) {
                blocked = true;
                records.push(error.record);
                err(`${label}: ${error.message}`);
              } else if (error instanceof PlatformAudienceDeletedError) {
                failed = true;
                err(`${label}: ${error.message}`);
              } else {
                failed = true;
                err(`${label}: failed: ${error instanceof Error ? error.message : String(error)}`);
              }
            }
          }
          if (opts.json) outJson({ runs: records });
        } finally {
          progress.stop();
          await close();
        }
        if (failed)
          throw new CliError('one or more syncs failed (see above and the run records)', EXIT.failed);
        if (blocked) throw new CliError('one or more syncs need --confirm', EXIT.needsConfirmation);
      },
    );
}

function printRecord(label: string, r: SyncRunRecord): void {
  const where = r.dry_run ? ` → outbox/${r.destination}/${r.audience_id}/${r.run_id}/` : '';
  const rejected = Object.values(r.rejected_by_code).reduce((a, b) => a + b, 0);
  out(
    `${label}: ${r.status}${r.dry_run ? ' (dry run)' : ''}, +${r.plan.add} −${r.plan.remove}, ${r.requests} request(s)` +
      `${
        rejected
          ? `, ${rejected} rejected (${Object.entries(r.rejected_by_code)
              .map(([c, n]) => `${c}: ${n}`)
              .join(', ')})`
          : ''
      }` +
      `${r.platform?.size != null ? `, platform size ${r.platform.size}` : ''}${where}`,
  );
  if (r.status === 'finalizing')
    out(`    the platform job is still running; run sync again later to confirm it`);
  if (r.error) out(`    ${r.error.message}`);
}
