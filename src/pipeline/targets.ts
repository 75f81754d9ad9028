import { type Destination, openDestination } from '../../connectors/open.js';
import { getConnector } from '../../connectors/registry.js';
import { requireDestination } from '../config/load-config.js';
import { storeOutbox } from '../storage/outbox.js';
import type { SyncTarget } from '../sync/targets.js';
import type { StageContext } from './stages.js';

export { type SyncTarget, syncTargets } from '../sync/targets.js';

/**
 * The destination of a target, bound to its connector. A dry run swaps in the dry-run connector
 * emulating the same platform: the exact request bodies go to `outbox/`, nothing leaves the
 * machine, and no secret is needed (so the block is taken as written, unresolved variables and all).
 */
export function openTarget(
  ctx: StageContext,
  target: SyncTarget,
  /**
   * `largestBatches`: the destination's `batch_size` raised to the platform's largest batch (a
   * real-time flush, whose request budget is ceil(n / batch max) + 1; daily syncs keep `batch_size`).
   */
  options: { dryRun: boolean; runId: string; largestBatches?: boolean },
): Destination {
  const block = options.dryRun
    ? ctx.loaded.config.destinations[target.destination]
    : requireDestination(ctx.loaded, target.destination);
  if (!block) throw new Error(`destination "${target.destination}" is not defined`);
  const dryRun = options.dryRun || block.type === 'dry_run';
  const config = options.largestBatches
    ? { ...block, batch_size: getConnector(block.type).capabilities.maxBatchSize }
    : block;
  return openDestination({
    name: target.destination,
    config,
    env: ctx.env,
    log: ctx.log,
    ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
    ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
    ...(dryRun ? { dryRun: storeOutbox(ctx.store, options.runId) } : {}),
  });
}
