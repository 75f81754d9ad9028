import { tmpdir } from 'node:os';
import type { Redis } from 'ioredis';
import { bufferedRecords } from '../ingest/buffer.js';
import {
  applyUpdate,
  asPersonUpdate,
  emptyPerson,
  type FlatPerson,
  flattenSnapshotPerson,
  type SnapshotPerson,
  toSnapshotPerson,
} from '../people/merge.js';
import { compareIds, latestSnapshotDay, unfoldedPersonParts } from '../people/snapshot.js';
import { peekSnapshotBytes } from '../people/snapshot-line.js';
import { loadPersonUpdates } from '../people/updates.js';
import { readLineBatches } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';

/**
 * The people a real-time addition names, as the newest records have them: the latest people
 * snapshot, then the raw person parts it has not folded yet (exported since, or late), then the
 * identifies still in the ingest buffer — merged field by field by `ts`, as the snapshot merges
 * them (people/merge.ts). Someone who bought and identified themselves an hour ago is resolved
 * with the email they gave; someone none of the three knows is not in `lines`, never guessed.
 *
 * Alias calls (`merged_from`) are not followed here: the daily snapshot folds them.
 */
export interface NewestPeople {
  /** The snapshot the lines start from (undefined when there is none yet). */
  snapshotDay: string | undefined;
  /** One snapshot-form line per person found, in `customer_id` order. */
  lines: string[];
  /** How many of them the snapshot did not know (found only in newer parts or the buffer). */
  newerOnly: number;
}

export async function newestPeople(options: {
  store: ObjectStore;
  redis: Redis;
  /** Redis key prefix of the ingest buffer. */
  ingestPrefix: string;
  ids: ReadonlySet<string>;
}): Promise<NewestPeople> {
  const { store, ids } = options;
  const found = new Map<string, FlatPerson>();
  const snapshotDay = await latestSnapshotDay(store, '9999-12-31');
  if (snapshotDay) {
    const key = keys.peopleSnapshot(snapshotDay);
    for await (const batch of readLineBatches(store, key)) {
      for (const { bytes } of batch) {
        // Most lines are of no interest: their id is read off the line's bytes, which are not decoded.
        const id = peekSnapshotBytes(bytes)?.customer_id;
        if (id !== undefined && !ids.has(id)) continue;
        const person = JSON.parse(bytes.toString('utf8')) as SnapshotPerson;
        if (ids.has(person.customer_id)) found.set(person.customer_id, flattenSnapshotPerson(person));
      }
    }
  }
  const known = found.size;
  const apply = (record: Record<string, unknown>) => {
    const update = asPersonUpdate(record);
    if (typeof update === 'string') return;
    let person = found.get(update.customer_id);
    if (!person) {
      person = emptyPerson(update.customer_id);
      found.set(update.customer_id, person);
    }
    applyUpdate(person, update);
  };

  const units = await unfoldedPersonParts(store, snapshotDay);
  if (units.length > 0) {
    const updates = await loadPersonUpdates(store, units, tmpdir());
    try {
      for await (const group of updates.people({ only: [...ids] })) {
        for (const { record } of group) apply(record);
      }
    } finally {
      await updates.close();
    }
  }
  for await (const record of bufferedRecords(options.redis, options.ingestPrefix, 'people')) {
    if (typeof record.customer_id === 'string' && ids.has(record.customer_id)) apply(record);
  }

  const lines = [...found.values()]
    .sort((a, b) => compareIds(a.customer_id, b.customer_id))
    .map((p) => JSON.stringify(toSnapshotPerson(p)));
  return { snapshotDay, lines, newerOnly: found.size - known };
}
