import { hash } from 'node:crypto';
import type { AttributeValue, MatchKeys } from '../../connectors/core/types.js';
import { readJsonl, writeJsonl } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import {
  ObjectNotFoundError,
  type ObjectStore,
  readJsonIfExists,
  writeJson,
} from '../storage/object-store.js';

/**
 * What a destination holds for one audience, as far as we know: one line per person we last saw
 * confirmed, with the keys exactly as they were sent. Removal needs those keys (a person who changed
 * their email must be removed under the old one), and they are the platform's normalized and hashed
 * forms, never raw identifiers.
 */
export interface LedgerEntry {
  customer_id: string;
  /** SHA-256 of the canonical keys / attributes: a change means "remove old, add new". */
  digest: string;
  /** Match keys as sent (ad platforms). */
  keys?: MatchKeys;
  /** Attributes as sent (write-back destinations). */
  attributes?: Record<string, AttributeValue>;
  /** Digest of the identifier fields and settings the keys came from (lets unchanged people skip hashing). */
  input?: string;
  confirmed_at: string;
}

/** The platform-side audience this ledger belongs to, beside the ledger. */
export interface DestinationState {
  destination: string;
  connector: string;
  api_version: string;
  audience_id: string;
  platform_audience_id: string;
  platform_audience_name: string;
  created_at: string;
  updated_at: string;
  last_run_id?: string;
  /** The platform reported the audience deleted; it is re-created only when configured to. */
  platform_audience_gone?: boolean;
  /** A replace failed half-way: the next run replaces again instead of trusting the ledger. */
  needs_replace?: boolean;
}

export type Ledger = Map<string, LedgerEntry>;

export function stateKey(destination: string, audienceId: string): string {
  return keys.ledger(destination, audienceId).replace(/ledger\.jsonl\.gz$/, 'state.json');
}

/** Digest of keys or attributes in canonical (sorted) order, so equal content means equal digest. */
export function digestOf(value: Record<string, unknown>): string {
  const names = Object.keys(value).sort();
  const canonical = names.map((k) => [k, value[k] ?? null]);
  return hash('sha256', JSON.stringify(canonical));
}

export async function readLedger(
  store: ObjectStore,
  destination: string,
  audienceId: string,
): Promise<Ledger> {
  const ledger: Ledger = new Map();
  try {
    for await (const entry of readJsonl<LedgerEntry>(store, keys.ledger(destination, audienceId))) {
      ledger.set(entry.customer_id, entry);
    }
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
  }
  return ledger;
}

/** Whole-object write (atomic on both stores), sorted by customer id so diffs between runs are readable. */
export async function writeLedger(
  store: ObjectStore,
  destination: string,
  audienceId: string,
  ledger: Ledger,
): Promise<void> {
  const ids = [...ledger.keys()].sort();
  await writeJsonl(
    store,
    keys.ledger(destination, audienceId),
    (function* () {
      for (const id of ids) yield ledger.get(id)!;
    })(),
  );
}

export function readState(
  store: ObjectStore,
  destination: string,
  audienceId: string,
): Promise<DestinationState | undefined> {
  return readJsonIfExists<DestinationState>(store, stateKey(destination, audienceId));
}

export function writeState(store: ObjectStore, state: DestinationState): Promise<void> {
  return writeJson(store, stateKey(state.destination, state.audience_id), state);
}
