import { type ObjectStore, readJsonIfExists, writeJson } from './object-store.js';

/**
 * Forget notices. An erasure rewrites the objects that mention a person and deletes the derived
 * ones; copies of their old versions on local disk — an S3 store's read-through cache (CACHE_DIR,
 * engine/local-files.ts) on every machine that runs builds — must go too. The erasure stores one
 * notice naming those object keys (never an identifier: keys are paths of days, parts and
 * audiences), and every machine's cache applies each notice it has not applied yet before its first
 * use in a process, deleting every cached version of those keys. Notices are kept like the erasure
 * records they belong to.
 */

export const FORGET_NOTICES_PREFIX = 'privacy/forget/';

export interface ForgetNotice {
  version: 1;
  erasure_id: string;
  /** Objects whose earlier versions no local copy may keep. */
  keys: string[];
  written_at: string;
}

export function forgetNoticeKey(erasureId: string): string {
  return `${FORGET_NOTICES_PREFIX}${erasureId}.json`;
}

/** Stores (or replaces, idempotently) the notice of one erasure. */
export async function writeForgetNotice(
  store: ObjectStore,
  erasureId: string,
  keys: readonly string[],
  now: Date = new Date(),
): Promise<void> {
  const notice: ForgetNotice = {
    version: 1,
    erasure_id: erasureId,
    keys: [...new Set(keys)].sort(),
    written_at: now.toISOString(),
  };
  await writeJson(store, forgetNoticeKey(erasureId), notice);
}

/** The keys a stored notice names (none when it is not there, or not a notice). */
export async function readForgetNotice(store: ObjectStore, key: string): Promise<string[]> {
  const notice = await readJsonIfExists<Partial<ForgetNotice>>(store, key);
  return Array.isArray(notice?.keys) ? notice.keys.filter((k): k is string => typeof k === 'string') : [];
}
