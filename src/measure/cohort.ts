import { isDay } from '../contract/days.js';
import type { JsonlLineError } from '../storage/jsonl.js';
import { readJsonl } from '../storage/jsonl.js';
import { keys, partitionDay } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJsonIfExists } from '../storage/object-store.js';
import { expectedGroup } from './assignment.js';

/**
 * The analysis cohort: people whose stay in the audience began in the period, with the group
 * they were first recorded in (intent-to-treat). Read from the daily member snapshots by their
 * documented layout only, so measurement does not depend on the audience engine's code.
 */

export type Group = 'treatment' | 'holdout';

export interface CohortMember {
  group: Group;
  /** First day of the stay that put the person in the cohort. */
  entered: string;
  converted: boolean;
  revenue: number;
}

export interface CohortIntegrity {
  /** People who left and came back within the period: only their first stay counts. */
  re_entries: number;
  /** People whose recorded group changed within one stay (the salt or fraction changed). */
  group_changes: number;
  /** People whose recorded group differs from the configured salt and fraction. */
  assignment_mismatches: number;
  /** Member lines that were not valid member records, skipped. */
  invalid_lines: number;
}

export interface Cohort {
  members: Map<string, CohortMember>;
  /** Snapshot days read, ascending. */
  snapshot_days: string[];
  integrity: CohortIntegrity;
}

const MEMBERS_FILE = '/members.jsonl.gz';

/** Every day with a member snapshot for the audience, ascending. */
export async function listSnapshotDays(store: ObjectStore, audienceId: string): Promise<string[]> {
  const days = new Set<string>();
  for await (const info of store.list(keys.audiencePrefix(audienceId))) {
    if (!info.key.endsWith(MEMBERS_FILE)) continue;
    const day = partitionDay(info.key);
    if (day) days.add(day);
  }
  return [...days].sort();
}

interface MemberLine {
  customer_id?: unknown;
  group?: unknown;
  entered?: unknown;
}

export interface ReadCohortOptions {
  audienceId: string;
  from: string;
  to: string;
  /** Snapshot days available (from `listSnapshotDays`); those in [from, to] are read. */
  snapshotDays: readonly string[];
  /** Configured holdout, to check the recorded groups against. */
  salt: string;
  holdoutFraction: number;
}

/**
 * A stay that began on day E shows up first in the snapshot of day E (entered is never after the
 * snapshot's day), so the snapshots of [from, to] hold every stay that began in the period.
 */
export async function readCohort(store: ObjectStore, options: ReadCohortOptions): Promise<Cohort> {
  const { from, to, salt, holdoutFraction } = options;
  const members = new Map<string, CohortMember>();
  const reEntered = new Set<string>();
  const changed = new Set<string>();
  const integrity: CohortIntegrity = {
    re_entries: 0,
    group_changes: 0,
    assignment_mismatches: 0,
    invalid_lines: 0,
  };
  const onCorrupt = (_: JsonlLineError) => {
    integrity.invalid_lines += 1;
  };
  // Only a few distinct entry days exist, and checking one parses a date: remember the answers.
  const validDays = new Map<string, boolean>();
  const validDay = (d: string) => {
    let ok = validDays.get(d);
    if (ok === undefined) {
      ok = isDay(d);
      if (validDays.size < 100_000) validDays.set(d, ok);
    }
    return ok;
  };
  const days = options.snapshotDays.filter((d) => d >= from && d <= to);
  for (const day of days) {
    const key = keys.members(options.audienceId, day);
    for await (const line of readJsonl<MemberLine>(store, key, { onCorrupt })) {
      const { customer_id: id, group, entered } = line;
      if (
        typeof id !== 'string' ||
        id.length === 0 ||
        (group !== 'treatment' && group !== 'holdout') ||
        typeof entered !== 'string' ||
        !validDay(entered) ||
        entered > day
      ) {
        integrity.invalid_lines += 1;
        continue;
      }
      // A stay that began before the period is not part of this cohort.
      if (entered < from || entered > to) continue;
      const known = members.get(id);
      if (!known) {
        members.set(id, { group, entered, converted: false, revenue: 0 });
        if (expectedGroup(salt, holdoutFraction, id) !== group) integrity.assignment_mismatches += 1;
      } else if (known.entered !== entered) {
        reEntered.add(id);
      } else if (known.group !== group) {
        changed.add(id);
      }
    }
  }
  integrity.re_entries = reEntered.size;
  integrity.group_changes = changed.size;
  return { members, snapshot_days: days, integrity };
}

export interface HoldoutSetting {
  day: string;
  salt: string | null;
  fraction: number | null;
}

/**
 * The holdout salt and fraction each snapshot's manifest says it used. The manifest shape belongs
 * to the audience engine, so this accepts `holdout: {salt, fraction}` or flat
 * `holdout_salt` / `holdout_fraction`, and reports null when a manifest says neither.
 */
export async function readHoldoutSettings(
  store: ObjectStore,
  audienceId: string,
  days: readonly string[],
): Promise<HoldoutSetting[]> {
  const out: HoldoutSetting[] = [];
  for (const day of days) {
    const manifest = await readJsonIfExists<Record<string, unknown>>(store, keys.manifest(audienceId, day));
    if (!manifest || typeof manifest !== 'object') continue;
    const nested = manifest.holdout as Record<string, unknown> | undefined | null;
    const salt = nested?.salt ?? manifest.holdout_salt;
    const fraction = nested?.fraction ?? manifest.holdout_fraction;
    out.push({
      day,
      salt: typeof salt === 'string' ? salt : null,
      fraction: typeof fraction === 'number' ? fraction : null,
    });
  }
  return out;
}
