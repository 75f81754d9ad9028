import { mayAddToGoogle, rowConsent } from '../../connectors/core/consent.js';
import type {
  AnyConnector,
  ConnectorId,
  IdentifierType,
  MatchKeys,
  SyncRow,
} from '../../connectors/core/types.js';
import { type WriteBackMapping, writeBackAttributes } from '../../connectors/customerio/attributes.js';
import type { MemberRecord, PersonRecord } from '../contract/records.js';
import { compareIds, type SnapshotPerson } from '../people/snapshot.js';
import { peekSnapshotLine } from '../people/snapshot-line.js';
import { JsonlLineError, type Line, readLines } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { digestOf, type LedgerEntry } from './ledger.js';
import type { DiffItem } from './plan.js';
import { SortedCursor, smallestId } from './sorted.js';
import { type SortedRows, sortedMembers } from './sorted-members.js';

/** Who should be on the platform after this sync, with the keys to send. */
export interface DesiredRow {
  row: SyncRow;
  digest: string;
  /**
   * Digest of what the keys were computed from (the person's identifier fields and the
   * destination's settings). When it equals the ledger's, the keys sent last time are reused
   * instead of normalizing and hashing again — most people do not change from one day to the next.
   */
  input?: string;
}

/** Per-member outcome counts, for the plan and the run report (no identifiers in here). */
export interface DesiredStats {
  members: number;
  treatment: number;
  holdout_excluded: number;
  /** Member missing from the identity snapshot (should not happen; counted, never hidden). */
  not_in_snapshot: number;
  /** Deleted or unsubscribed in the snapshot: never sent even if a build let them through. */
  never_send_excluded: number;
  /** No usable identifier for this platform: identifier coverage is desired / eligible. */
  no_identifiers: number;
  /** Google: not added because of consent (EEA without both granted, or denied). */
  consent_excluded: number;
  desired: number;
  /** How many desired rows carry each identifier type. */
  coverage: Partial<Record<IdentifierType, number>>;
}

export type SyncMode =
  | { kind: 'audience' }
  /** A write-back destination: every member (both groups), with member fields as attributes. */
  | { kind: 'write_back'; attributes: WriteBackMapping };

export interface DesiredInput {
  store: ObjectStore;
  audienceId: string;
  day: string;
  connector: AnyConnector;
  config: unknown;
  /**
   * The configured platform, when the connector stands in for it (a dry run emulating Google must
   * apply Google's consent rules too). Defaults to the connector's own id.
   */
  platform?: ConnectorId;
  mode: SyncMode;
  /**
   * The ledger's entries in `customer_id` order (`ledgerEntries`): people whose identifier fields
   * did not change keep their keys, and people held but no longer desired are removed. Omitted
   * after a platform audience was re-created: nothing is held there.
   */
  ledger?: AsyncIterable<LedgerEntry>;
  /**
   * Members given by the caller instead of the audience's members file, in `customer_id` order
   * (a real-time addition: the people a trigger named).
   */
  members?: SortedRows<MemberRecord>;
  /**
   * Person lines (snapshot form) given by the caller instead of the day's snapshot, in
   * `customer_id` order (a real-time addition: the newest records of the people it names).
   */
  people?: AsyncIterable<Line>;
}

export interface DesiredItems {
  /** Every member and every ledger entry, once, in `customer_id` order. */
  items: AsyncGenerator<DiffItem>;
  /** Filled in as `items` is read; complete when it ends. */
  stats: DesiredStats;
}

/**
 * The items of an erasure run: the ledger's people that `erased` matches, each to be removed (a
 * compliance removal), and nobody else — no member is read, and nobody else is added or removed.
 */
export function erasureItems(
  ledger: AsyncIterable<LedgerEntry> | Iterable<LedgerEntry>,
  erased: (customerId: string) => boolean,
): DesiredItems {
  const stats = emptyStats();
  async function* items(): AsyncGenerator<DiffItem> {
    for await (const held of ledger) {
      if (erased(held.customer_id)) yield { id: held.customer_id, held, mustLeave: true };
    }
  }
  return { items: items(), stats };
}

function emptyStats(): DesiredStats {
  return {
    members: 0,
    treatment: 0,
    holdout_excluded: 0,
    not_in_snapshot: 0,
    never_send_excluded: 0,
    no_identifiers: 0,
    consent_excluded: 0,
    desired: 0,
    coverage: {},
  };
}

/**
 * Merges three streams sorted by `customer_id`: the audience's members (sorted by the SQL engine),
 * the people snapshot (identifiers and never-send flags) and the ledger. Memory stays flat whatever
 * the audience's size; people who are neither members nor held are passed over unparsed, and the
 * snapshot is read no further than the last member or ledger entry.
 */
export async function desiredItems(input: DesiredInput): Promise<DesiredItems> {
  const { store, audienceId, day, connector, config, mode } = input;
  const stats = emptyStats();
  const members = input.members ?? (await sortedMembers(store, audienceId, day));
  const snapshotKey = keys.peopleSnapshot(day);
  const rule = new DesiredRule({
    connector,
    config,
    checksConsent: (input.platform ?? connector.id) === 'google_ads',
    mode,
    audienceId,
    audienceSize: members.total,
    stats,
  });
  async function* items(): AsyncGenerator<DiffItem> {
    const cursors: { close(): Promise<void> }[] = [];
    try {
      const memberCursor = await SortedCursor.open(
        members.rows,
        (m) => m.customer_id,
        `the members of ${audienceId} on ${day}`,
      );
      cursors.push(memberCursor);
      const ledgerCursor = await SortedCursor.open(
        input.ledger ?? none<LedgerEntry>(),
        (e) => e.customer_id,
        'the ledger',
      );
      cursors.push(ledgerCursor);
      const people = await SortedCursor.open(
        input.people ?? readLines(store, snapshotKey),
        (l) => lineId(snapshotKey, l),
        input.people ? 'the newest records of the people named' : `the people snapshot of ${day}`,
      );
      cursors.push(people);
      for (;;) {
        const id = smallestId([memberCursor, ledgerCursor]);
        if (id === undefined) break;
        // Everyone before the next member or ledger entry is of no interest to this sync.
        while (!people.done && compareIds(people.id!, id) < 0) await people.next();
        const member = await memberCursor.take(id);
        const held = await ledgerCursor.take(id);
        const line = await people.take(id);
        yield rule.evaluate(id, member, held, line ? { key: snapshotKey, ...line } : undefined);
      }
    } finally {
      for (const c of cursors) await c.close();
      await members.close();
    }
  }
  return { items: items(), stats };
}

async function* none<T>(): AsyncGenerator<T> {}

/** A snapshot line's customer id: read off the line's start, or parsed when it has another form. */
function lineId(key: string, line: Line): string {
  const peeked = peekSnapshotLine(line.text);
  if (peeked) return peeked.customer_id;
  return parsePerson(key, line).customer_id;
}

function parsePerson(key: string, line: Line): SnapshotPerson {
  let value: unknown;
  try {
    value = JSON.parse(line.text);
  } catch {
    throw new JsonlLineError(key, line.line, 'not valid JSON');
  }
  const id = (value as { customer_id?: unknown } | null)?.customer_id;
  if (typeof value !== 'object' || value === null || typeof id !== 'string')
    throw new JsonlLineError(key, line.line, 'not a person with a customer_id');
  return value as SnapshotPerson;
}

/**
 * Who is desired, with which keys, decided one person at a time — DESIGN: desired = treatment
 * members with identifiers from the snapshot; holdout and never-send people are never sent; Google
 * consent rules decide eligibility per person (EEA people need both consents granted; anyone who
 * denied either is not added, and so is removed when present).
 */
class DesiredRule {
  private readonly settings: string;
  constructor(
    private readonly o: {
      connector: AnyConnector;
      config: unknown;
      checksConsent: boolean;
      mode: SyncMode;
      audienceId: string;
      audienceSize: number;
      stats: DesiredStats;
    },
  ) {
    this.settings = settingsDigest(o.connector, o.config);
  }

  evaluate(
    id: string,
    member: MemberRecord | undefined,
    held: LedgerEntry | undefined,
    line: (Line & { key: string }) | undefined,
  ): DiffItem {
    const { stats, mode, checksConsent } = this.o;
    const item = (desired?: DesiredRow, mustLeave = false): DiffItem => ({
      id,
      ...(desired ? { desired } : {}),
      ...(held ? { held } : {}),
      mustLeave,
    });
    if (member) {
      stats.members += 1;
      if (member.group === 'treatment') stats.treatment += 1;
    }
    if (!member || (mode.kind === 'audience' && member.group !== 'treatment')) {
      if (member) stats.holdout_excluded += 1;
      // Someone on the platform who must leave for privacy reasons: such removals are never held
      // back by the size guards.
      return item(undefined, held !== undefined && line !== undefined && this.mustLeave(line));
    }
    if (!line) {
      stats.not_in_snapshot += 1;
      return item();
    }
    const person = parsePerson(line.key, line);
    if (person.deleted || person.unsubscribed) {
      stats.never_send_excluded += 1;
      return item(undefined, true);
    }
    if (mode.kind === 'write_back') {
      const attributes = writeBackAttributes(mode.attributes, member, {
        audienceId: this.o.audienceId,
        audienceSize: this.o.audienceSize,
      });
      stats.desired += 1;
      return item({ row: { key: id, keys: {}, attributes }, digest: digestOf(attributes) });
    }
    const consent = rowConsent(person);
    if (checksConsent && !mayAddToGoogle(consent)) {
      stats.consent_excluded += 1;
      return item(undefined, true);
    }
    const inputDigest = identityDigest(person, this.settings);
    const reuse = held?.input === inputDigest && held.keys !== undefined;
    const matchKeys = reuse ? held.keys! : this.o.connector.matchKeys(person, this.o.config);
    if (!matchKeys || !hasAnyKey(matchKeys)) {
      stats.no_identifiers += 1;
      return item();
    }
    for (const type of Object.keys(matchKeys) as IdentifierType[]) {
      if (matchKeys[type]) stats.coverage[type] = (stats.coverage[type] ?? 0) + 1;
    }
    stats.desired += 1;
    return item({
      row: { key: id, keys: matchKeys, ...(checksConsent ? { consent } : {}) },
      digest: reuse ? held.digest : digestOf(matchKeys),
      input: inputDigest,
    });
  }

  /** Deleted, unsubscribed, or (Google) without consent; flags are read off the line when they can be. */
  private mustLeave(line: Line & { key: string }): boolean {
    if (!this.o.checksConsent) {
      const peeked = peekSnapshotLine(line.text);
      if (peeked) return peeked.deleted || peeked.unsubscribed;
    }
    return mustLeave(parsePerson(line.key, line), this.o.checksConsent);
  }
}

function mustLeave(
  person: { deleted?: boolean; unsubscribed?: boolean; consent?: PersonRecord['consent']; country?: string },
  checksConsent: boolean,
): boolean {
  return (
    person.deleted === true ||
    person.unsubscribed === true ||
    (checksConsent && !mayAddToGoogle(rowConsent(person)))
  );
}

/** Person fields that can change match keys; flags, consent and times cannot. */
const NOT_IDENTITY = new Set(['ts', 'field_ts', 'consent', 'unsubscribed', 'deleted', 'cio_id']);

function identityDigest(person: Record<string, unknown>, settings: string): string {
  const fields: Record<string, unknown> = { _settings: settings };
  for (const [k, v] of Object.entries(person)) if (!NOT_IDENTITY.has(k)) fields[k] = v;
  return digestOf(fields);
}

/** The destination settings that shape keys (never its secrets), with the connector's version. */
function settingsDigest(connector: AnyConnector, config: unknown): string {
  const secret = new Set(connector.secretFields);
  const safe = Object.fromEntries(
    Object.entries((config ?? {}) as Record<string, unknown>).filter(([k]) => !secret.has(k)),
  );
  return digestOf({ connector: connector.id, api: connector.apiVersion, config: JSON.stringify(safe) });
}

function hasAnyKey(k: MatchKeys): boolean {
  for (const v of Object.values(k)) if (v) return true;
  return false;
}
