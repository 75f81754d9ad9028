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
import { readPeopleSnapshot } from '../people/snapshot.js';
import { readJsonl } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { digestOf, type Ledger } from './ledger.js';

/**
 * Who should be on the platform after this sync, with the keys to send. DESIGN.md: desired =
 * treatment members with identifiers from the snapshot; holdout and never-send people are never
 * sent; Google consent rules decide eligibility per person (EEA people need both consents granted;
 * anyone who denied either is not added, and so is removed when present).
 */
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
  /** The current ledger: people whose identifier fields did not change keep their keys. */
  ledger?: Ledger;
}

export async function buildDesired(
  input: DesiredInput,
): Promise<{ desired: Map<string, DesiredRow>; stats: DesiredStats; compliance: Set<string> }> {
  const { store, audienceId, day, connector, config, mode } = input;
  const settings = settingsDigest(connector, config);
  const stats: DesiredStats = {
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
  // Members first (bounded by audience size), then one pass over the snapshot to pick their records.
  const members = new Map<string, MemberRecord>();
  for await (const m of readJsonl<MemberRecord>(store, keys.members(audienceId, day))) {
    stats.members += 1;
    if (m.group === 'treatment') stats.treatment += 1;
    if (mode.kind === 'audience' && m.group !== 'treatment') {
      stats.holdout_excluded += 1;
      continue;
    }
    members.set(m.customer_id, m);
  }
  const desired = new Map<string, DesiredRow>();
  /** People who must leave the platform (deleted, unsubscribed, consent withdrawn). */
  const compliance = new Set<string>();
  const found = new Set<string>();
  const checksConsent = (input.platform ?? connector.id) === 'google_ads';
  for await (const person of readPeopleSnapshot(store, day)) {
    const member = members.get(person.customer_id);
    if (!member) {
      // Someone on the platform who must leave for privacy reasons: such removals are never held
      // back by the size guards.
      if (input.ledger?.has(person.customer_id) && mustLeave(person, checksConsent))
        compliance.add(person.customer_id);
      continue;
    }
    found.add(person.customer_id);
    if (person.deleted || person.unsubscribed) {
      stats.never_send_excluded += 1;
      compliance.add(person.customer_id);
      continue;
    }
    if (mode.kind === 'write_back') {
      const attributes = writeBackAttributes(mode.attributes, member, {
        audienceId,
        audienceSize: stats.members,
      });
      desired.set(person.customer_id, {
        row: { key: person.customer_id, keys: {}, attributes },
        digest: digestOf(attributes),
      });
      continue;
    }
    const consent = rowConsent(person);
    if (checksConsent && !mayAddToGoogle(consent)) {
      stats.consent_excluded += 1;
      compliance.add(person.customer_id);
      continue;
    }
    const inputDigest = identityDigest(person, settings);
    const held = input.ledger?.get(person.customer_id);
    const reuse = held?.input === inputDigest && held.keys !== undefined;
    const matchKeys = reuse ? held.keys! : connector.matchKeys(person, config);
    if (!matchKeys || !hasAnyKey(matchKeys)) {
      stats.no_identifiers += 1;
      continue;
    }
    for (const type of Object.keys(matchKeys) as IdentifierType[]) {
      if (matchKeys[type]) stats.coverage[type] = (stats.coverage[type] ?? 0) + 1;
    }
    desired.set(person.customer_id, {
      row: { key: person.customer_id, keys: matchKeys, ...(checksConsent ? { consent } : {}) },
      digest: reuse ? held.digest : digestOf(matchKeys),
      input: inputDigest,
    });
  }
  stats.not_in_snapshot = members.size - found.size;
  stats.desired = desired.size;
  return { desired, stats, compliance };
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
