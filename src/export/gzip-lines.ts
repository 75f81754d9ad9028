import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { GZIP_LEVEL } from '../storage/jsonl.js';
import type { ObjectStore } from '../storage/object-store.js';

const gzipAsync = promisify(gzip);

/**
 * Writes already-serialized JSON lines as one gzip object. Compression runs on the libuv thread
 * pool, so several partitions compress in parallel while the main thread validates the next ones.
 * Callers bound the number of lines (one export chunk), so holding them in memory is fine.
 */
export async function putGzipLines(store: ObjectStore, key: string, lines: readonly string[]): Promise<void> {
  const body = await gzipAsync(Buffer.from(lines.join('')), { level: GZIP_LEVEL });
  await store.put(key, body, { contentType: 'application/x-ndjson' });
}
