import { readPeopleSnapshot } from '../people/snapshot.js';
import type { StageContext } from '../pipeline/stages.js';
import { createErasure } from './erasure.js';
import { hashCustomerId } from './identifiers.js';
import { loadSuppression } from './suppression.js';

/**
 * With `privacy.erase_deleted_people`, an erasure request for each person the day's people snapshot
 * holds as deleted and the suppression list does not hold yet. The id is derived from the hashed
 * customer id, so a request is made once however often the stage runs before it completes.
 * Returns the ids to run (the caller queues them, or runs them in the same process).
 */
export async function requestErasuresForDeleted(ctx: StageContext, day: string): Promise<string[]> {
  if (!ctx.loaded.config.privacy.erase_deleted_people) return [];
  const suppressed = await loadSuppression(ctx.store);
  const ids: string[] = [];
  for await (const person of readPeopleSnapshot(ctx.store, day)) {
    if (person.deleted !== true) continue;
    const hashed = hashCustomerId(person.customer_id);
    if (suppressed.hasHash('customer_id', hashed)) continue;
    const record = await createErasure(
      ctx.store,
      { customer_id: person.customer_id },
      'deleted_record',
      new Date(),
      `er-d${hashed.slice(0, 32)}`,
    );
    if (record.status !== 'completed' && record.status !== 'no_match') ids.push(record.id);
  }
  if (ids.length > 0) ctx.log.info({ erasures: ids.length }, 'erasure requests for deleted people');
  return ids;
}
