import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../storage/object-store.js';
import { readJsonIfExists, writeJson } from '../storage/object-store.js';
import { emptyHashes, type HashedIdentifiers, hashCustomerId, hashEmail, hashPhone } from './identifiers.js';

/**
 * An erasure request and its audit entry, one object: `privacy/erasures/<id>.json`. It holds hashed
 * identifiers only (identifiers.ts), so the proof that a person was erased does not keep the
 * person. The job (erase.ts) moves it through its steps and saves it after each, so a run killed at
 * any point resumes from the last step it finished.
 */
export const ERASURES_PREFIX = 'privacy/erasures/';

export type ErasureStatus =
  /** Accepted, not started. */
  | 'pending'
  /** Resolved to a person; removals and rewrites under way. */
  | 'running'
  | 'completed'
  /** Nobody in the people snapshot carries the given identifiers: nothing was changed. */
  | 'no_match'
  /** A step failed; the job retries, and the error says which step. */
  | 'failed';

export type ErasureSource = 'api' | 'cli' | 'deleted_record';

export interface PlatformRemoval {
  destination: string;
  audience_id: string;
  /** The sync run that removed them (`sync/<destination>/<audience>/runs/<run_id>.json`). */
  run_id: string;
  status: 'completed' | 'failed' | 'not_held';
  /** Rows the run removed (0 when the ledger did not hold them). */
  removed: number;
  requests: number;
  confirmed_at?: string;
  error?: string;
}

export interface RewrittenObject {
  key: string;
  /** Records (lines, rows, entries) removed from it. */
  removed: number;
}

export interface ErasureRecord {
  version: 1;
  id: string;
  source: ErasureSource;
  requested_at: string;
  /** What the request named, hashed. */
  requested: HashedIdentifiers;
  status: ErasureStatus;
  /**
   * Everything the person was known by when resolved (their ids, aliases included, emails and
   * phones), hashed; the suppression list holds the same.
   */
  matched?: HashedIdentifiers & { people: number };
  /** The platform forms of their keys (each connector's normalized, hashed match keys), to find them in the outbox. */
  platform_hashes?: string[];
  resolved_at?: string;
  suppressed_at?: string;
  platforms?: PlatformRemoval[];
  removals_done_at?: string;
  objects_rewritten: RewrittenObject[];
  objects_scanned?: number;
  rewrite_done_at?: string;
  completed_at?: string;
  /** For `no_match` and `failed`: what happened, without any identifier. */
  message?: string;
  updated_at: string;
}

export function erasureKey(id: string): string {
  return `${ERASURES_PREFIX}${id}.json`;
}

/** Ids reach BullMQ job ids, object keys and URLs: letters, digits and `-` only. */
export const ERASURE_ID_RE = /^er-[0-9a-z]{8,40}$/;

export function newErasureId(now: Date = new Date()): string {
  return `er-${now.getTime().toString(36)}${randomBytes(6).toString('hex')}`;
}

export interface ErasureRequest {
  customer_id?: string | undefined;
  email?: string | undefined;
  phone?: string | undefined;
}

/** A request that names nobody, or names someone by something that is not an identifier. */
export class InvalidErasureRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidErasureRequestError';
  }
}

/** The request's identifiers, hashed; an error naming the field when one is not usable. */
export function hashRequest(request: ErasureRequest): HashedIdentifiers {
  const out = emptyHashes();
  const customerId = request.customer_id?.trim();
  if (customerId) out.customer_id.push(hashCustomerId(customerId));
  if (request.email !== undefined && request.email.trim() !== '') {
    const h = hashEmail(request.email);
    if (!h) throw new InvalidErasureRequestError('email is not an email address');
    out.email.push(h);
  }
  if (request.phone !== undefined && request.phone.trim() !== '') {
    const h = hashPhone(request.phone);
    if (!h)
      throw new InvalidErasureRequestError('phone is not a phone number (use E.164, e.g. +14155550100)');
    out.phone.push(h);
  }
  if (out.customer_id.length + out.email.length + out.phone.length === 0) {
    throw new InvalidErasureRequestError('name the person by at least one of customer_id, email, phone');
  }
  return out;
}

/** Stores a new request (status `pending`) and returns it; the caller queues or runs the job. */
export async function createErasure(
  store: ObjectStore,
  request: ErasureRequest,
  source: ErasureSource,
  now: Date = new Date(),
  /** A fixed id makes the request idempotent: an existing request with it is returned as it is. */
  fixedId?: string,
): Promise<ErasureRecord> {
  const requested = hashRequest(request);
  if (fixedId) {
    const existing = await readErasure(store, fixedId);
    if (existing) return existing;
  }
  const record: ErasureRecord = {
    version: 1,
    id: fixedId ?? newErasureId(now),
    source,
    requested_at: now.toISOString(),
    requested,
    status: 'pending',
    objects_rewritten: [],
    updated_at: now.toISOString(),
  };
  await writeJson(store, erasureKey(record.id), record);
  return record;
}

export function readErasure(store: ObjectStore, id: string): Promise<ErasureRecord | undefined> {
  if (!ERASURE_ID_RE.test(id)) return Promise.resolve(undefined);
  return readJsonIfExists<ErasureRecord>(store, erasureKey(id));
}

export async function saveErasure(store: ObjectStore, record: ErasureRecord): Promise<void> {
  record.updated_at = new Date().toISOString();
  await writeJson(store, erasureKey(record.id), record);
}
