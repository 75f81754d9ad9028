import type { MemberRecord } from '../contract/records.js';
import { readJsonl } from '../storage/jsonl.js';
import { keys, partitionDay } from '../storage/keys.js';
import { type ObjectStore, readJsonIfExists } from '../storage/object-store.js';
import type { AudienceManifest } from './manifest.js';

/**
 * Reading audience snapshots back: `audiences/<id>/dt=D/members.jsonl.gz` (one member per line, in
 * rank order) and its `manifest.json`. The manifest is written after the members, so a day counts
 * as built only when its manifest exists.
 */

export async function* readMembers(
  store: ObjectStore,
  audienceId: string,
  day: string,
): AsyncGenerator<MemberRecord> {
  yield* readJsonl<MemberRecord>(store, keys.members(audienceId, day));
}

/** Days with a complete snapshot of the audience, ascending. */
export async function builtDays(store: ObjectStore, audienceId: string): Promise<string[]> {
  const days: string[] = [];
  for await (const info of store.list(keys.audiencePrefix(audienceId))) {
    if (!info.key.endsWith('/manifest.json')) continue;
    const dt = partitionDay(info.key);
    if (dt) days.push(dt);
  }
  return days.sort();
}

/**
 * The latest built day of the audience, optionally on or before `onOrBefore` (or strictly before
 * with `before: true`); undefined when there is none.
 */
export async function latestBuiltDay(
  store: ObjectStore,
  audienceId: string,
  options: { onOrBefore?: string; before?: string } = {},
): Promise<string | undefined> {
  const days = await builtDays(store, audienceId);
  for (let i = days.length - 1; i >= 0; i--) {
    const d = days[i]!;
    if (options.onOrBefore !== undefined && d > options.onOrBefore) continue;
    if (options.before !== undefined && d >= options.before) continue;
    return d;
  }
  return undefined;
}

/** The manifest of the latest built day (or of the latest on or before `onOrBefore`). */
export async function latestManifest(
  store: ObjectStore,
  audienceId: string,
  onOrBefore?: string,
): Promise<AudienceManifest | undefined> {
  const day = await latestBuiltDay(store, audienceId, onOrBefore ? { onOrBefore } : {});
  return day ? readManifest(store, audienceId, day) : undefined;
}

export function readManifest(
  store: ObjectStore,
  audienceId: string,
  day: string,
): Promise<AudienceManifest | undefined> {
  return readJsonIfExists<AudienceManifest>(store, keys.manifest(audienceId, day));
}
