import type { AudienceSyncConfig as AudienceConfig } from '../config-file.js';
import type { Dataset } from '../contract/records.js';
import { REALTIME_PERSON_FLAGS, type RealtimePersonMatch } from './config.js';

/**
 * The `realtime:` triggers compiled into a pure matcher: which audiences an accepted record takes
 * people out of (`remove`) or puts them into (`add`). No I/O, no state: ingest calls `match` for
 * each accepted record and enqueues the actions it returns.
 */

export interface RealtimeAction {
  op: 'remove' | 'add';
  audienceIds: string[];
}

export interface TriggerMatcher {
  /** True when no record can ever trigger anything (no triggers, or none that names an audience). */
  readonly empty: boolean;
  /** The datasets whose records can trigger anything: other lines are never parsed. */
  readonly datasets: ReadonlySet<Dataset>;
  /**
   * The actions an accepted record triggers (none when no trigger matches), audiences
   * de-duplicated, 'all' resolved to every configured audience that syncs somewhere (has `sync`
   * destinations or a `write_back`). At most one action per op, `remove` first; audiences in the
   * order triggers name them. An audience both removed and added by different triggers is in
   * both actions (the caller decides).
   */
  match(dataset: Dataset, record: Record<string, unknown>): RealtimeAction[];
}

interface Targets {
  remove: string[];
  add: string[];
}

/** Unions `from` into `into` (keeping first-seen order). */
function merge(into: Targets, from: Targets): void {
  for (const op of ['remove', 'add'] as const) {
    for (const id of from[op]) if (!into[op].includes(id)) into[op].push(id);
  }
}

function actions(t: Targets): RealtimeAction[] {
  const out: RealtimeAction[] = [];
  if (t.remove.length > 0) out.push({ op: 'remove', audienceIds: [...t.remove] });
  if (t.add.length > 0) out.push({ op: 'add', audienceIds: [...t.add] });
  return out;
}

export function compileTriggers(config: Pick<AudienceConfig, 'audiences' | 'realtime'>): TriggerMatcher {
  const syncing = config.audiences.filter((a) => a.sync.length > 0 || a.write_back).map((a) => a.id);
  /** Normalized event name → the union of what its triggers do. */
  const byEvent = new Map<string, Targets>();
  const people: { match: RealtimePersonMatch; targets: Targets }[] = [];
  for (const t of config.realtime) {
    const targets: Targets = { remove: [], add: [] };
    merge(targets, { remove: t.remove_from === 'all' ? syncing : t.remove_from, add: t.add_to });
    if (targets.remove.length === 0 && targets.add.length === 0) continue;
    if ('event' in t.on) {
      const known = byEvent.get(t.on.event);
      if (known) merge(known, targets);
      else byEvent.set(t.on.event, targets);
    } else {
      people.push({ match: t.on.person, targets });
    }
  }

  const datasets = new Set<Dataset>([
    ...(byEvent.size > 0 ? (['events'] as const) : []),
    ...(people.length > 0 ? (['people'] as const) : []),
  ]);
  return {
    empty: datasets.size === 0,
    datasets,
    match(dataset, record) {
      if (dataset === 'events') {
        const targets = typeof record.name === 'string' ? byEvent.get(record.name) : undefined;
        return targets ? actions(targets) : [];
      }
      if (dataset !== 'people' || people.length === 0) return [];
      const out: Targets = { remove: [], add: [] };
      for (const p of people) {
        if (REALTIME_PERSON_FLAGS.every((flag) => p.match[flag] !== true || record[flag] === true))
          merge(out, p.targets);
      }
      return actions(out);
    },
  };
}
