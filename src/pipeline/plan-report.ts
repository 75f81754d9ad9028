import { buildDesired } from '../sync/desired.js';
import { checkGuards } from '../sync/guards.js';
import { readLedger } from '../sync/ledger.js';
import { computePlan, planSummary } from '../sync/plan.js';
import type { StageContext } from './stages.js';
import { openTarget, type SyncTarget } from './targets.js';

/**
 * What a sync would change, without sending anything and without secrets: the same desired set
 * and diff the sync computes, per destination. Served by `audience-sync plan` and
 * `GET /v1/audiences/:id/plan`. Holds customer ids and identifier *types*, never identifiers.
 */
export async function planTarget(ctx: StageContext, day: string, target: SyncTarget, withRows = false) {
  // The dry-run form of the destination: the configured platform's keys, limits and defaults,
  // with no credentials needed. Nothing is sent, so its outbox stays empty.
  const destination = openTarget(ctx, target, { dryRun: true, runId: `plan-${day}` });
  const audience = ctx.loaded.config.audiences.find((a) => a.id === target.audienceId);
  const ledger = await readLedger(ctx.store, target.destination, target.audienceId);
  const { desired, stats, compliance } = await buildDesired({
    store: ctx.store,
    audienceId: target.audienceId,
    day,
    connector: destination.connector,
    config: destination.context.config,
    mode:
      target.kind === 'write_back' && audience?.write_back
        ? { kind: 'write_back', attributes: audience.write_back.attributes }
        : { kind: 'audience' },
    ledger,
    platform: destination.type,
  });
  const plan = computePlan(
    desired,
    ledger,
    destination.capabilities,
    destination.batchSize,
    'diff',
    compliance,
  );
  const guards = checkGuards(plan, destination.capabilities.minAudienceSize, {
    maxRemoveShare: ctx.loaded.config.sync_settings.max_remove_share,
  });
  return {
    audience: target.audienceId,
    destination: target.destination,
    kind: target.kind,
    connector: destination.type,
    day,
    ...planSummary(plan, stats, { withRows }),
    guards,
  };
}
