import type { ObjectStore } from '../storage/object-store.js';
import { readJsonIfExists, writeJson } from '../storage/object-store.js';
import { type HashedIdentifiers, hashesOfRecord, IDENTIFIER_KINDS, mergeHashes } from './identifiers.js';

/**
 * The suppression list: hashed identifiers of erased people, so that records about them that
 * arrive later (a webhook retry, a late Data Out file, a record still in the ingest buffer) are
 * dropped instead of bringing them back. One object per erasure,
 * `privacy/suppression/<erasure_id>.json`, so concurrent erasures never overwrite each other; the
 * list is the union of all of them. It never holds a raw identifier.
 */
export const SUPPRESSION_PREFIX = 'privacy/suppression/';

export interface SuppressionEntry extends HashedIdentifiers {
  version: 1;
  erasure_id: string;
  added_at: string;
}

export function suppressionKey(erasureId: string): string {
  return `${SUPPRESSION_PREFIX}${erasureId}.json`;
}

/** Adds (or replaces, idempotently) the entry of one erasure. */
export async function writeSuppression(
  store: ObjectStore,
  erasureId: string,
  hashes: HashedIdentifiers,
  now: Date = new Date(),
): Promise<void> {
  const existing = await readJsonIfExists<SuppressionEntry>(store, suppressionKey(erasureId));
  const merged = existing ? mergeHashes(existing, hashes) : mergeHashes(hashes);
  const entry: SuppressionEntry = {
    version: 1,
    erasure_id: erasureId,
    added_at: existing?.added_at ?? now.toISOString(),
    ...merged,
  };
  await writeJson(store, suppressionKey(erasureId), entry);
}

/** An in-memory view of the whole list. */
export class SuppressionList {
  private readonly sets: Record<keyof HashedIdentifiers, Set<string>>;

  constructor(hashes: HashedIdentifiers) {
    this.sets = {
      customer_id: new Set(hashes.customer_id),
      email: new Set(hashes.email),
      phone: new Set(hashes.phone),
    };
  }

  static empty(): SuppressionList {
    return new SuppressionList({ customer_id: [], email: [], phone: [] });
  }

  get size(): number {
    return this.sets.customer_id.size + this.sets.email.size + this.sets.phone.size;
  }

  /** True when any identifier the record carries belongs to an erased person. */
  matches(record: {
    customer_id?: unknown;
    cio_id?: unknown;
    email?: unknown;
    phone?: unknown;
    country?: unknown;
  }): boolean {
    if (this.size === 0) return false;
    return this.intersects(hashesOfRecord(record));
  }

  /** True when any of these hashes is on the list. */
  intersects(h: HashedIdentifiers): boolean {
    return IDENTIFIER_KINDS.some((kind) => h[kind].some((x) => this.sets[kind].has(x)));
  }

  hasHash(kind: keyof HashedIdentifiers, hash: string): boolean {
    return this.sets[kind].has(hash);
  }
}

export async function loadSuppression(store: ObjectStore): Promise<SuppressionList> {
  const entries: HashedIdentifiers[] = [];
  for await (const info of store.list(SUPPRESSION_PREFIX)) {
    if (!info.key.endsWith('.json')) continue;
    const entry = await readJsonIfExists<SuppressionEntry>(store, info.key);
    if (entry) entries.push(entry);
  }
  return new SuppressionList(mergeHashes(...entries));
}

/**
 * The list as a long-running process sees it: loaded once, then again when older than `maxAgeMs`
 * (another process may have added an erasure), or at once after `invalidate()` (this process just
 * did). A load failure keeps the last good list and tries again on the next call.
 */
export class SuppressionCache {
  private list: SuppressionList | undefined;
  private loadedAt = 0;
  private loading: Promise<SuppressionList> | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly maxAgeMs = 30_000,
  ) {}

  invalidate(): void {
    this.loadedAt = 0;
  }

  async get(now: number = Date.now()): Promise<SuppressionList> {
    if (this.list && now - this.loadedAt < this.maxAgeMs) return this.list;
    this.loading ??= loadSuppression(this.store)
      .then((list) => {
        this.list = list;
        this.loadedAt = Date.now();
        return list;
      })
      .catch((error: unknown) => {
        if (this.list) return this.list;
        throw error;
      })
      .finally(() => {
        this.loading = undefined;
      });
    return this.loading;
  }
}
