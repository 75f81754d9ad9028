import { listRangeParts } from '../compaction/parts.js';
import { RawPartReader } from '../compaction/read.js';
import { addDays } from '../contract/days.js';
import { cleanEmail } from '../contract/identifiers.js';
import { CANONICAL_TIMESTAMP } from '../contract/records.js';
import type { JsonlLineError } from '../storage/jsonl.js';
import { readJsonl } from '../storage/jsonl.js';
import { keys, partitionDay } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { CohortMember } from './cohort.js';

/**
 * Outcomes: the configured conversion event of each matured cohort member within their window.
 * Events are streamed day partition by day partition; only events with the outcome's name are
 * kept (one small candidate per event id, for de-duplication), so memory grows with conversions,
 * not with the event volume.
 */

/** Start (inclusive) and end (exclusive) instants of the outcome window for an entry day. */
export function outcomeWindow(entered: string, windowDays: number): { start: string; end: string } {
  // From the end of the entry day, so whatever put the person in the audience on that day is
  // never counted as the outcome, in either group.
  return {
    start: `${addDays(entered, 1)}T00:00:00.000Z`,
    end: `${addDays(entered, 1 + windowDays)}T00:00:00.000Z`,
  };
}

/** A cohort entry is mature when its window has ended by the end of `asOf`. */
export function isMature(entered: string, windowDays: number, asOf: string): boolean {
  return addDays(entered, windowDays) <= asOf;
}

/** The first as-of day at which an entry day's window has ended. */
export function maturesOn(entered: string, windowDays: number): string {
  return addDays(entered, windowDays);
}

interface Candidate {
  receivedAt: string;
  /** Where the copy was exported to (JSON Lines key and line), the tie-break between copies. */
  key: string;
  line: number;
  customerId: string | undefined;
  email: string | undefined;
  ts: string;
  value: number;
  currency: string | undefined;
}

export interface OutcomeStats {
  /** Outcome events read from the partitions (after de-duplication). */
  events: number;
  duplicates: number;
  /** Events without customer_id tied to a person through the identity snapshot's email. */
  resolved_by_email: number;
  /** Events that could not be tied to any person: kept out of the counts, but counted here. */
  unresolved: number;
  /** Lines or records that could not be used (corrupt JSON, no usable timestamp). */
  malformed: number;
  /** Outcome events of cohort people that fell in their window. */
  counted: number;
  partitions: number;
  people_snapshot: string | null;
  currencies: string[];
  /** Every day partition read, first and last. */
  days: { from: string; to: string } | null;
}

const MONEY_FIELDS = ['value', 'revenue', 'total'] as const;
const DECIMAL_RE = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Money of an order: `properties.value`, else `revenue`, else `total`; 0 when none is a number. */
function outcomeValue(properties: unknown): number {
  if (!properties || typeof properties !== 'object') return 0;
  const bag = properties as Record<string, unknown>;
  for (const field of MONEY_FIELDS) {
    const raw = bag[field];
    if (typeof raw === 'number' && Number.isFinite(raw)) return raw;
    if (typeof raw === 'string' && DECIMAL_RE.test(raw.trim())) {
      const n = Number(raw.trim());
      if (Number.isFinite(n)) return n;
    }
  }
  return 0;
}

export interface ReadOutcomesOptions {
  event: string;
  windowDays: number;
  /** Matured cohort members; `converted` and `revenue` are filled in. */
  members: Map<string, CohortMember>;
  /** As-of day: the newest people snapshot on or before it resolves email-only events. */
  asOf: string;
}

export async function readOutcomes(store: ObjectStore, options: ReadOutcomesOptions): Promise<OutcomeStats> {
  const { event, windowDays, members } = options;
  const stats: OutcomeStats = {
    events: 0,
    duplicates: 0,
    resolved_by_email: 0,
    unresolved: 0,
    malformed: 0,
    counted: 0,
    partitions: 0,
    people_snapshot: null,
    currencies: [],
    days: null,
  };
  let first: string | undefined;
  let last: string | undefined;
  for (const m of members.values()) {
    if (first === undefined || m.entered < first) first = m.entered;
    if (last === undefined || m.entered > last) last = m.entered;
  }
  if (first === undefined || last === undefined) return stats;
  const fromDay = addDays(first, 1);
  const toDay = addDays(last, windowDays);
  stats.days = { from: fromDay, to: toDay };

  const candidates = await collectCandidates(store, event, fromDay, toDay, stats);
  stats.events = candidates.size;

  const emails = new Set<string>();
  for (const c of candidates.values()) if (!c.customerId && c.email) emails.add(c.email);
  const byEmail = emails.size > 0 ? await resolveEmails(store, emails, options.asOf, stats) : new Map();

  const currencies = new Set<string>();
  for (const c of candidates.values()) {
    let customerId = c.customerId;
    if (!customerId && c.email) {
      customerId = byEmail.get(c.email);
      if (customerId) stats.resolved_by_email += 1;
    }
    if (!customerId) {
      stats.unresolved += 1;
      continue;
    }
    const member = members.get(customerId);
    if (!member) continue;
    const window = outcomeWindow(member.entered, windowDays);
    if (c.ts < window.start || c.ts >= window.end) continue;
    member.converted = true;
    member.revenue += c.value;
    stats.counted += 1;
    if (c.currency) currencies.add(c.currency);
  }
  stats.currencies = [...currencies].sort();
  return stats;
}

/**
 * Reads the outcome events of the day partitions [fromDay, toDay] and keeps one copy per id:
 * the earliest `received_at`, then the first object key, then the first line. Raw parts are read
 * in either form (`listDayParts`: JSON Lines, or Parquet written by compaction, whose rows keep
 * the key and line they were exported to), so the kept copy does not depend on compaction. A
 * record without an id is unique by where it was exported (`<key>#<line>`).
 */
async function collectCandidates(
  store: ObjectStore,
  event: string,
  fromDay: string,
  toDay: string,
  stats: OutcomeStats,
): Promise<Map<string, Candidate>> {
  const candidates = new Map<string, Candidate>();
  const onCorrupt = (_: JsonlLineError) => {
    stats.malformed += 1;
  };
  const reader = new RawPartReader(store);
  try {
    // One listing for the window (a copy is kept by received_at, key and line: order does not matter).
    const parts = await listRangeParts(store, 'events', fromDay, toDay);
    // Lines of compacted parts that were not records (JSON Lines parts report theirs as read).
    stats.malformed += parts.malformedLines;
    for (const info of [...parts.jsonl, ...parts.parquet]) {
      stats.partitions += 1;
      for await (const { key, line, record } of reader.read('events', info, {
        onCorrupt,
        where: { name: event },
      })) {
        const ts = record.ts;
        if (typeof ts !== 'string' || !CANONICAL_TIMESTAMP.test(ts)) {
          stats.malformed += 1;
          continue;
        }
        const properties = record.properties as Record<string, unknown> | undefined;
        const currency = properties?.currency;
        const candidate: Candidate = {
          receivedAt: typeof record.received_at === 'string' ? record.received_at : ts,
          key,
          line,
          customerId:
            typeof record.customer_id === 'string' && record.customer_id ? record.customer_id : undefined,
          email: cleanEmail(record.email) ?? undefined,
          ts,
          value: outcomeValue(properties),
          currency: typeof currency === 'string' && currency ? currency.trim().toUpperCase() : undefined,
        };
        // Records are canonical and carry an id; one without is unique by where it sits.
        const id = typeof record.id === 'string' && record.id ? record.id : `${key}#${line}`;
        const kept = candidates.get(id);
        if (!kept) {
          candidates.set(id, candidate);
        } else {
          stats.duplicates += 1;
          if (earlier(candidate, kept)) candidates.set(id, candidate);
        }
      }
    }
  } finally {
    reader.close();
  }
  return candidates;
}

/** Earliest `received_at`, then first key, then first line. */
function earlier(a: Candidate, b: Candidate): boolean {
  if (a.receivedAt !== b.receivedAt) return a.receivedAt < b.receivedAt;
  if (a.key !== b.key) return a.key < b.key;
  return a.line < b.line;
}

/** The newest identity snapshot on or before `asOf`, or undefined. */
async function latestPeopleSnapshot(store: ObjectStore, asOf: string): Promise<string | undefined> {
  let latest: string | undefined;
  for await (const info of store.list(keys.peoplePrefix())) {
    const day = partitionDay(info.key);
    if (!day || day > asOf || info.key !== keys.peopleSnapshot(day)) continue;
    if (latest === undefined || day > latest) latest = day;
  }
  return latest;
}

/** Maps only the emails that outcome events need, so memory stays with those events. */
async function resolveEmails(
  store: ObjectStore,
  emails: ReadonlySet<string>,
  asOf: string,
  stats: OutcomeStats,
): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const day = await latestPeopleSnapshot(store, asOf);
  if (!day) return out;
  stats.people_snapshot = day;
  const onCorrupt = (_: JsonlLineError) => {
    stats.malformed += 1;
  };
  for await (const person of readJsonl<Record<string, unknown>>(store, keys.peopleSnapshot(day), {
    onCorrupt,
  })) {
    const email = cleanEmail(person.email);
    const id = person.customer_id;
    if (!email || typeof id !== 'string' || !id || !emails.has(email)) continue;
    // Several people can share an address; the first in the snapshot wins, deterministically.
    if (!out.has(email)) out.set(email, id);
  }
  return out;
}
