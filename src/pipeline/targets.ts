import { type Destination, openDestination } from '../../connectors/open.js';
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
  options: { dryRun: boolean; runId: string },
): Destination {
  const block = options.dryRun
    ? ctx.loaded.config.destinations[target.destination]
    : requireDestination(ctx.loaded, target.destination);
  if (!block) throw new Error(`destination "${target.destination}" is not defined`);
  const dryRun = options.dryRun || block.type === 'dry_run';
  return openDestination({
    name: target.destination,
    config: block,
    env: ctx.env,
    log: ctx.log,
    ...(ctx.fetch ? { fetch: ctx.fetch } : {}),
    ...(ctx.sleep ? { sleep: ctx.sleep } : {}),
    ...(dryRun ? { dryRun: storeOutbox(ctx.store, options.runId) } : {}),
  });
}
