import type { AnyConnector } from '../../connectors/core/types.js';
import { getConnector } from '../../connectors/registry.js';
import { buildDesired } from '../sync/desired.js';
import { checkGuards } from '../sync/guards.js';
import { readLedger } from '../sync/ledger.js';
import { computePlan, planSummary } from '../sync/plan.js';
import type { StageContext } from './stages.js';
import type { SyncTarget } from './targets.js';

/**
 * What a sync would change, without sending anything and without secrets: the same desired set
 * and diff the sync computes, per destination. Served by `audience-sync plan` and
 * `GET /v1/audiences/:id/plan`. Holds customer ids and identifier *types*, never identifiers.
 */
export async function planTarget(ctx: StageContext, day: string, target: SyncTarget, withRows = false) {
  const block = ctx.loaded.config.destinations[target.destination];
  if (!block) throw new Error(`destination "${target.destination}" is not defined`);
  const connector = getConnector(block.type);
  const audience = ctx.loaded.config.audiences.find((a) => a.id === target.audienceId);
  const ledger = await readLedger(ctx.store, target.destination, target.audienceId);
  const { desired, stats, compliance } = await buildDesired({
    store: ctx.store,
    audienceId: target.audienceId,
    day,
    connector,
    config: nonSecretConfig(connector, block),
    mode:
      target.kind === 'write_back' && audience?.write_back
        ? { kind: 'write_back', attributes: audience.write_back.attributes }
        : { kind: 'audience' },
    ledger,
  });
  const batchSize = Math.min(
    connector.capabilities.maxBatchSize,
    typeof block.batch_size === 'number' ? block.batch_size : connector.capabilities.maxBatchSize,
  );
  const plan = computePlan(desired, ledger, connector.capabilities, batchSize, 'diff', compliance);
  const guards = checkGuards(plan, connector.capabilities.minAudienceSize, {
    maxRemoveShare: ctx.loaded.config.sync_settings.max_remove_share,
  });
  return {
    audience: target.audienceId,
    destination: target.destination,
    kind: target.kind,
    connector: connector.id,
    day,
    ...planSummary(plan, stats, { withRows }),
    guards,
  };
}

/**
 * The destination block as the connector parses it when its secrets are set; otherwise the
 * non-secret options (all `matchKeys` needs), so planning works without credentials.
 */
function nonSecretConfig(connector: AnyConnector, block: Record<string, unknown>): unknown {
  const full = connector.configSchema.safeParse(block);
  if (full.success) return full.data;
  const options = connector.drafts?.optionsSchema.safeParse(block);
  return options?.success ? options.data : undefined;
}
