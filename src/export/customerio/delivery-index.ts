import { addDays, today } from '../../contract/days.js';
import { readJsonl, writeJsonl } from '../../storage/jsonl.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { importPrefix } from './import-state.js';
import type { DeliveryFacts } from './rows.js';

/**
 * Metrics rows name a delivery, not always a person: the person (cio id) and channel come from the
 * Deliveries row, which may have been imported in an earlier run. Each Deliveries file leaves one
 * segment here (`<day>-<file id>.jsonl.gz`); a lookup streams the segments of the last
 * `keepDays` days and keeps only the ids it was asked for, so memory follows the lookup, not the
 * index. Older segments are deleted.
 */

interface Entry extends DeliveryFacts {
  d: string;
}

export class DeliveryIndex {
  private readonly prefix: string;

  constructor(
    private readonly store: ObjectStore,
    sourceId: string,
    private readonly keepDays: number,
  ) {
    this.prefix = `${importPrefix(sourceId)}delivery-index/`;
  }

  async addSegment(
    day: string,
    fileId: string,
    deliveries: ReadonlyMap<string, DeliveryFacts>,
  ): Promise<void> {
    if (deliveries.size === 0) return;
    const entries = [...deliveries].map(([d, facts]): Entry => ({ d, ...facts }));
    await writeJsonl(this.store, `${this.prefix}${day}-${fileId}.jsonl.gz`, entries);
  }

  async lookup(ids: ReadonlySet<string>): Promise<Map<string, DeliveryFacts>> {
    const found = new Map<string, DeliveryFacts>();
    if (ids.size === 0) return found;
    const cutoff = addDays(today(), -this.keepDays);
    const segments: string[] = [];
    for await (const info of this.store.list(this.prefix)) {
      if (info.key.slice(this.prefix.length, this.prefix.length + 10) >= cutoff) segments.push(info.key);
    }
    // Newest first: a delivery seen twice keeps its latest facts.
    for (const key of segments.reverse()) {
      for await (const { d, ...facts } of readJsonl<Entry>(this.store, key)) {
        if (ids.has(d) && !found.has(d)) found.set(d, facts);
      }
      if (found.size === ids.size) break;
    }
    return found;
  }

  /** Deletes segments older than the window. */
  async prune(): Promise<number> {
    const cutoff = addDays(today(), -this.keepDays);
    const old: string[] = [];
    for await (const info of this.store.list(this.prefix)) {
      if (info.key.slice(this.prefix.length, this.prefix.length + 10) < cutoff) old.push(info.key);
    }
    if (old.length > 0) await this.store.delete(old);
    return old.length;
  }
}
