import { normalizeEmail, phoneE164, sha256Hex } from '../../connectors/core/normalize.js';

/**
 * The identifiers an erasure names a person by, hashed: what the erasure audit and the suppression
 * list keep instead of the values themselves. Each is SHA-256 hex of the normalized value:
 * - customer id: the id exactly as sent (Customer.io's own `cio_id` counts as one: Data Out
 *   deliveries and some webhooks name a person by it alone);
 * - email: trimmed and lowercased (the form every ad platform hashes);
 * - phone: E.164 with the `+` (the person's country as default region when known).
 */
export interface HashedIdentifiers {
  customer_id: string[];
  email: string[];
  phone: string[];
}

export type IdentifierKind = keyof HashedIdentifiers;

export const IDENTIFIER_KINDS: readonly IdentifierKind[] = ['customer_id', 'email', 'phone'];

export function emptyHashes(): HashedIdentifiers {
  return { customer_id: [], email: [], phone: [] };
}

export function hashCustomerId(id: string): string {
  return sha256Hex(id);
}

/** Null when the value is not an email address. */
export function hashEmail(raw: string): string | null {
  const email = normalizeEmail(raw);
  return email ? sha256Hex(email) : null;
}

/** Null when the value is not a phone number. */
export function hashPhone(raw: string, region?: string | null): string | null {
  const phone = phoneE164(raw, region);
  return phone ? sha256Hex(phone) : null;
}

/** The hashes of whatever identifiers a record carries (a person, an event, a message). */
export function hashesOfRecord(record: {
  customer_id?: unknown;
  cio_id?: unknown;
  email?: unknown;
  phone?: unknown;
  country?: unknown;
}): HashedIdentifiers {
  const out = emptyHashes();
  for (const id of [record.customer_id, record.cio_id]) {
    if (typeof id === 'string' && id !== '') out.customer_id.push(hashCustomerId(id));
  }
  if (typeof record.email === 'string') {
    const h = hashEmail(record.email);
    if (h) out.email.push(h);
  }
  if (typeof record.phone === 'string') {
    const h = hashPhone(record.phone, typeof record.country === 'string' ? record.country : null);
    if (h) out.phone.push(h);
  }
  return out;
}

/** Union without repeats, in first-seen order. */
export function mergeHashes(...all: HashedIdentifiers[]): HashedIdentifiers {
  const out = emptyHashes();
  for (const kind of IDENTIFIER_KINDS) out[kind] = [...new Set(all.flatMap((h) => h[kind]))];
  return out;
}
