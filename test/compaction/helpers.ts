import { gzipSync } from 'node:zlib';
import { listDayParts } from '../../src/compaction/parts.js';
import { RawPartReader, type RawRecord } from '../../src/compaction/read.js';
import type { Dataset } from '../../src/contract/records.js';
import { keys } from '../../src/storage/keys.js';
import type { ObjectStore } from '../../src/storage/object-store.js';

/** Writes a raw JSON Lines part; `lines` may mix records and raw strings (malformed lines). */
export async function writeRawPart(
  store: ObjectStore,
  dataset: Dataset,
  day: string,
  id: string,
  lines: readonly (object | string)[],
): Promise<string> {
  const key = keys.rawPart(dataset, day, id, id);
  const text = lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n');
  await store.put(key, gzipSync(`${text}\n`));
  return key;
}

/** Every record of a day as readers see it (listDayParts + readRawRecords), in (key, line) order. */
export async function dayRecords(store: ObjectStore, dataset: Dataset, day: string): Promise<RawRecord[]> {
  const parts = await listDayParts(store, dataset, day);
  const reader = new RawPartReader(store);
  const out: RawRecord[] = [];
  try {
    for (const part of [...parts.jsonl, ...parts.parquet])
      for await (const r of reader.read(dataset, part, { onCorrupt: () => {} })) out.push(r);
  } finally {
    reader.close();
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.line - b.line));
}

export async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const info of store.list(prefix)) out.push(info.key);
  return out;
}

export function ev(
  id: string,
  customerId: string,
  name: string,
  ts: string,
  properties: object = {},
): object {
  return {
    id,
    customer_id: customerId,
    name,
    raw_name: name,
    ts,
    properties,
    received_at: ts,
    source: 'test',
  };
}
