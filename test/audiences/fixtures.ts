import { gzipSync } from 'node:zlib';
import { readMembers } from '../../src/audiences/members.js';
import type { Dataset, EventRecord, MessageRecord, PersonRecord } from '../../src/contract/records.js';
import { keys } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';

/** Small builders for canonical raw records, so each test states only what matters to it. */

export function ev(
  id: string,
  who: string | { email?: string; anonymous_id?: string; customer_id?: string },
  name: string,
  ts: string,
  properties: Record<string, unknown> = {},
  receivedAt = ts,
): EventRecord {
  const person = typeof who === 'string' ? { customer_id: who } : who;
  return { id, ...person, name, raw_name: name, ts, properties, received_at: receivedAt, source: 'test' };
}

export function msg(
  id: string,
  who: string | { email?: string; cio_id?: string },
  channel: string,
  metric: string,
  ts: string,
  extra: Partial<MessageRecord> = {},
): MessageRecord {
  const person = typeof who === 'string' ? { customer_id: who } : who;
  return { id, ...person, channel, metric, ts, received_at: ts, source: 'test', ...extra };
}

export function person(customerId: string, ts: string, fields: Partial<PersonRecord> = {}): PersonRecord {
  return { customer_id: customerId, ts, ...fields };
}

/** Writes a raw part; `lines` may mix records and raw strings (malformed lines). */
export async function writePart(
  store: ObjectStore,
  dataset: Dataset,
  dt: string,
  partId: string,
  lines: readonly (object | string)[],
): Promise<string> {
  const key = keys.rawPart(dataset, dt, partId, partId);
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
  await store.put(key, gzipSync(`${text}\n`));
  return key;
}

/** The customer ids of an audience's members on `day`, in the members file's order (rank). */
export async function memberIds(store: ObjectStore, audienceId: string, day: string): Promise<string[]> {
  const out: string[] = [];
  for await (const m of readMembers(store, audienceId, day)) out.push(m.customer_id);
  return out;
}
