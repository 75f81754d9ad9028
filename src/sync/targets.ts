import type { AudienceDefinition } from '../audiences/config.js';

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
