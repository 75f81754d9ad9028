import type { JsonlLineError } from '../storage/jsonl.js';
import { readJsonl } from '../storage/jsonl.js';
import { assertSegment } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';

/**
 * Contamination: holdout people who are in a destination's ledger, i.e. (as far as we know) on
 * an ad platform's audience. They may have been reached by ads, which pulls the measured lift
 * towards zero; and it means the "never send holdout people" guarantee was broken somewhere.
 */

export interface ContaminationResult {
  /** Destinations with a ledger for this audience, checked. */
  destinations_checked: string[];
  /** Holdout people looked for (every holdout member of the cohort, matured or pending). */
  holdout_people: number;
  /** Distinct holdout people found in at least one ledger. */
  contaminated_people: number;
  /** Contaminated people / holdout people; null without holdout people. */
  share: number | null;
  by_destination: Record<string, number>;
  flagged: boolean;
  /** Ledger lines that could not be read. */
  unreadable_lines: number;
}

/** `sync/<destination>/<audience>/ledger.jsonl.gz` for every destination that has one. */
async function listLedgers(
  store: ObjectStore,
  audienceId: string,
): Promise<Array<{ destination: string; key: string }>> {
  assertSegment('audience id', audienceId);
  const suffix = `/${audienceId}/ledger.jsonl.gz`;
  const out: Array<{ destination: string; key: string }> = [];
  for await (const info of store.list('sync/')) {
    if (!info.key.endsWith(suffix)) continue;
    const destination = info.key.slice('sync/'.length, info.key.length - suffix.length);
    if (destination.length === 0 || destination.includes('/')) continue;
    out.push({ destination, key: info.key });
  }
  return out;
}

export async function checkContamination(
  store: ObjectStore,
  audienceId: string,
  holdout: ReadonlySet<string>,
): Promise<ContaminationResult> {
  const ledgers = await listLedgers(store, audienceId);
  const found = new Set<string>();
  const byDestination: Record<string, number> = {};
  let unreadable = 0;
  const onCorrupt = (_: JsonlLineError) => {
    unreadable += 1;
  };
  for (const { destination, key } of ledgers) {
    let count = 0;
    // A ledger may list one person on several lines (one per identifier); count people once.
    const seenHere = new Set<string>();
    for await (const line of readJsonl<{ customer_id?: unknown }>(store, key, { onCorrupt })) {
      const id = line.customer_id;
      if (typeof id !== 'string' || !holdout.has(id) || seenHere.has(id)) continue;
      seenHere.add(id);
      found.add(id);
      count += 1;
    }
    byDestination[destination] = count;
  }
  return {
    destinations_checked: ledgers.map((l) => l.destination),
    holdout_people: holdout.size,
    contaminated_people: found.size,
    share: holdout.size > 0 ? found.size / holdout.size : null,
    by_destination: byDestination,
    flagged: found.size > 0,
    unreadable_lines: unreadable,
  };
}
