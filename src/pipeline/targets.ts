import { type Destination, openDestination } from '../../connectors/open.js';
import type { AudienceDefinition } from '../audiences/config.js';
import { requireDestination } from '../config/load-config.js';
import { storeOutbox } from '../storage/outbox.js';
import type { StageContext } from './stages.js';

/** One audience × destination pair the refresh syncs. */
export interface SyncTarget {
  audienceId: string;
  destination: string;
  kind: 'audience' | 'write_back';
}

/** Every `sync` destination of the audiences, then their write-back destination. */
export function syncTargets(audiences: readonly AudienceDefinition[]): SyncTarget[] {
  const out: SyncTarget[] = [];
  for (const a of audiences) {
    for (const destination of a.sync) out.push({ audienceId: a.id, destination, kind: 'audience' });
    if (a.write_back)
      out.push({ audienceId: a.id, destination: a.write_back.destination, kind: 'write_back' });
  }
  return out;
}

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
