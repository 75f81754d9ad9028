import { desiredItems } from '../sync/desired.js';
import { checkGuards } from '../sync/guards.js';
import { ensureLedgerOrder, ledgerEntries, readState } from '../sync/ledger.js';
import { computePlan, PlanPreview, planSummary } from '../sync/plan.js';
import type { StageContext } from './stages.js';
import { openTarget, type SyncTarget } from './targets.js';

/**
 * What a sync would change, without sending anything and without secrets: the same desired set
 * and diff the sync computes, per destination. Served by `audience-sync plan` and
 * `GET /v1/audiences/:id/plan`. Holds customer ids and identifier *types*, never identifiers.
 */
/** Rows listed per kind (adds, removes) when rows are asked for; the counts are always whole. */
const PREVIEW_ROWS = 1000;

export async function planTarget(ctx: StageContext, day: string, target: SyncTarget, withRows = false) {
  // The dry-run form of the destination: the configured platform's keys, limits and defaults,
  // with no credentials needed. Nothing is sent, so its outbox stays empty.
  const destination = openTarget(ctx, target, { dryRun: true, runId: `plan-${day}` });
  const audience = ctx.loaded.config.audiences.find((a) => a.id === target.audienceId);
  await ensureLedgerOrder(
    ctx.store,
    target.destination,
    target.audienceId,
    await readState(ctx.store, target.destination, target.audienceId),
  );
  const { items, stats } = await desiredItems({
    store: ctx.store,
    audienceId: target.audienceId,
    day,
    connector: destination.connector,
    config: destination.context.config,
    mode:
      target.kind === 'write_back' && audience?.write_back
        ? { kind: 'write_back', attributes: audience.write_back.attributes }
        : { kind: 'audience' },
    ledger: ledgerEntries(ctx.store, target.destination, target.audienceId),
    platform: destination.type,
  });
  // Counts cover the whole plan; the rows shown stop at the first PREVIEW_ROWS of each kind.
  const preview = new PlanPreview(withRows ? PREVIEW_ROWS : 0);
  const plan = await computePlan(items, destination.capabilities, destination.batchSize, 'diff', preview);
  const guards = checkGuards(plan, destination.capabilities.minAudienceSize, {
    maxRemoveShare: ctx.loaded.config.sync_settings.max_remove_share,
  });
  return {
    audience: target.audienceId,
    destination: target.destination,
    kind: target.kind,
    connector: destination.type,
    day,
    ...planSummary(plan, stats, withRows ? preview : undefined),
    guards,
  };
}
