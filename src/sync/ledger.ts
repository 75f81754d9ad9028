import { hash } from 'node:crypto';
import type { AttributeValue, MatchKeys } from '../../connectors/core/types.js';
import type { Logger } from '../log.js';
import { readJsonl, type Values, writeJsonl } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import {
  ObjectNotFoundError,
  type ObjectStore,
  readJsonIfExists,
  writeJson,
} from '../storage/object-store.js';
import { SortedCursor, SortOrderError } from './sorted.js';
import { sortedByCustomerId } from './sorted-members.js';

/**
 * What a destination holds for one audience, as far as we know: one line per person we last saw
 * confirmed, with the keys exactly as they were sent. Removal needs those keys (a person who changed
 * their email must be removed under the old one), and they are the platform's normalized and hashed
 * forms, never raw identifiers. Lines are in `customer_id` code point order, so the sync compares
 * the ledger with the desired set as two sorted streams and never holds either in memory.
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
  /**
   * `code_point`: the ledger is known to be in code point order, the order the sync's merge needs.
   * Ledgers written before the sync streamed were sorted by UTF-16 units; the first run checks
   * them once (and sorts them again in the rare case they differ) before setting this.
   */
  ledger_order?: 'code_point';
  /**
   * When the platform last said the audience takes new members, for connectors whose audiences
   * can close (`capabilities.audiencesClose`): a targeted run that adds people looks again only
   * when this is older than `OPEN_CHECK_MAX_AGE_MS`.
   */
  open_checked_at?: string;
  /**
   * A targeted run added people trusting a look older than itself (`open_checked_at`): had the
   * audience closed in between, the platform took them without effect while the ledger counts them
   * as held. A look that finds the audience closed then sets `needs_replace`, so the first run after
   * it is reopened sends everyone again. A look that finds it open clears this.
   */
  added_since_look?: boolean;
  /**
   * Runs left `finalizing` (their jobs staged on the platform, not yet confirmed), oldest first:
   * the next run that plans finalizes them first, so it neither sends their people again nor
   * stages jobs the platform would refuse while theirs run. A list, because a targeted run (real
   * time) can be left finalizing while an earlier daily run still is: naming only the newest would
   * forget the other.
   */
  finalizing_run_ids?: string[];
  /** The single run states written before `finalizing_run_ids` named; read as a list of one. */
  finalizing_run_id?: string;
}

/** The runs `state` names as left finalizing, oldest first. */
export function finalizingRuns(state: DestinationState | undefined): string[] {
  if (!state) return [];
  return state.finalizing_run_ids ?? (state.finalizing_run_id !== undefined ? [state.finalizing_run_id] : []);
}

/** `state` naming `runs` as the runs left finalizing (none: no field). */
export function withFinalizingRuns(state: DestinationState, runs: readonly string[]): DestinationState {
  const { finalizing_run_id: _legacy, finalizing_run_ids: _runs, ...rest } = state;
  return runs.length > 0 ? { ...rest, finalizing_run_ids: [...runs] } : rest;
}

/** Digest of keys or attributes in canonical (sorted) order, so equal content means equal digest. */
export function digestOf(value: Record<string, unknown>): string {
  const names = Object.keys(value).sort();
  const canonical = names.map((k) => [k, value[k] ?? null]);
  return hash('sha256', JSON.stringify(canonical));
}

/** The whole ledger in memory, by customer id: for tests and small tools only (the sync streams). */
export type Ledger = Map<string, LedgerEntry>;

/** The ledger's entries in order; none when there is no ledger yet. */
export async function* ledgerEntries(
  store: ObjectStore,
  destination: string,
  audienceId: string,
): AsyncGenerator<LedgerEntry> {
  try {
    yield* readJsonl<LedgerEntry>(store, keys.ledger(destination, audienceId));
  } catch (error) {
    if (!(error instanceof ObjectNotFoundError)) throw error;
  }
}

export async function readLedger(
  store: ObjectStore,
  destination: string,
  audienceId: string,
): Promise<Ledger> {
  const ledger: Ledger = new Map();
  for await (const entry of ledgerEntries(store, destination, audienceId))
    ledger.set(entry.customer_id, entry);
  return ledger;
}

/**
 * Writes the ledger from entries in `customer_id` order (checked: a ledger out of order would break
 * the next merge), streaming. The object is replaced whole and atomically on both stores, and only
 * once the last entry is written — so `entries` may be read from the ledger being replaced.
 */
export async function writeLedger(
  store: ObjectStore,
  destination: string,
  audienceId: string,
  entries: Values<LedgerEntry>,
): Promise<number> {
  async function* inOrder(): AsyncGenerator<LedgerEntry> {
    const source = (async function* () {
      yield* entries;
    })();
    const cursor = await SortedCursor.open(source, (e) => e.customer_id, 'the new ledger');
    while (!cursor.done) {
      yield cursor.value!;
      await cursor.next();
    }
  }
  return writeJsonl(store, keys.ledger(destination, audienceId), inOrder());
}

export function readState(
  store: ObjectStore,
  destination: string,
  audienceId: string,
): Promise<DestinationState | undefined> {
  return readJsonIfExists<DestinationState>(store, keys.syncState(destination, audienceId));
}

export function writeState(store: ObjectStore, state: DestinationState): Promise<void> {
  return writeJson(store, keys.syncState(state.destination, state.audience_id), state);
}

/**
 * Brings a ledger written before the sync streamed into code point order, once. Those ledgers were
 * sorted by UTF-16 units, which differs only for ids holding characters above U+FFFF next to ones in
 * U+E000–U+FFFF: almost always the order is already right and one read proves it. Otherwise the SQL
 * engine sorts the ledger (spilling to disk, so any size fits) and it is written again.
 */
export async function ensureLedgerOrder(
  store: ObjectStore,
  destination: string,
  audienceId: string,
  state: DestinationState | undefined,
  log?: Pick<Logger, 'info'>,
): Promise<DestinationState | undefined> {
  if (state?.ledger_order === 'code_point') return state;
  if (!(await inCodePointOrder(ledgerEntries(store, destination, audienceId)))) {
    log?.info({ destination, audience: audienceId }, 'sorting a ledger written by an earlier version');
    await sortLedger(store, destination, audienceId);
  }
  if (!state) return state;
  const next: DestinationState = { ...state, ledger_order: 'code_point' };
  await writeState(store, next);
  return next;
}

async function inCodePointOrder(entries: AsyncGenerator<LedgerEntry>): Promise<boolean> {
  try {
    const cursor = await SortedCursor.open(entries, (e) => e.customer_id, 'the ledger');
    while (!cursor.done) await cursor.next();
    return true;
  } catch (error) {
    if (error instanceof SortOrderError) return false;
    throw error;
  }
}

const LEDGER_COLUMNS = `{customer_id: 'VARCHAR', digest: 'VARCHAR', keys: 'JSON', attributes: 'JSON', input: 'VARCHAR', confirmed_at: 'VARCHAR'}`;

async function sortLedger(store: ObjectStore, destination: string, audienceId: string): Promise<void> {
  type Row = {
    customer_id: string;
    digest: string;
    keys: string | null;
    attributes: string | null;
    input: string | null;
    confirmed_at: string;
  };
  const sorted = await sortedByCustomerId<Row>(store, keys.ledger(destination, audienceId), LEDGER_COLUMNS);
  async function* entries(): AsyncGenerator<LedgerEntry> {
    for await (const r of sorted.rows) {
      yield {
        customer_id: r.customer_id,
        digest: r.digest,
        ...(r.input !== null ? { input: r.input } : {}),
        ...(r.keys !== null ? { keys: JSON.parse(r.keys) as MatchKeys } : {}),
        ...(r.attributes !== null
          ? { attributes: JSON.parse(r.attributes) as Record<string, AttributeValue> }
          : {}),
        confirmed_at: r.confirmed_at,
      };
    }
  }
  try {
    await writeLedger(store, destination, audienceId, entries());
  } finally {
    await sorted.close();
  }
}
