import { Readable } from 'node:stream';
import { FsObjectStore } from '../../src/storage/fs-store.js';

/**
 * Run under strace by fs-store-durability.test.ts: two writes into an existing, empty root — a
 * streamed object under directories that do not exist yet, then a buffer next to it.
 */
const store = new FsObjectStore(process.argv[2]!);
await store.put(
  'raw/events/dt=2026-11-27/part-1.jsonl.gz',
  Readable.from([Buffer.from('a\n'), Buffer.from('b\n')]),
);
await store.put('raw/events/dt=2026-11-27/_compacted.json', Buffer.from('{}'));
