import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { ObjectStore } from '../storage/object-store.js';

/** Lines are joined into chunks of about this size before they enter the gzip stream. */
const CHUNK_CHARS = 64 * 1024;

/**
 * Writes already-serialized JSON lines as one gzip object. The snapshot merge passes most lines
 * through untouched, and re-serializing a million unchanged people would double its cost.
 */
export async function writeGzipLines(
  store: ObjectStore,
  key: string,
  lines: Iterable<string> | AsyncIterable<string>,
): Promise<number> {
  let count = 0;
  async function* chunks(): AsyncGenerator<string> {
    let buf = '';
    for await (const line of lines) {
      buf += `${line}\n`;
      count += 1;
      if (buf.length >= CHUNK_CHARS) {
        yield buf;
        buf = '';
      }
    }
    if (buf) yield buf;
  }
  await store.put(key, Readable.from(chunks()).pipe(createGzip({ level: 3 })), {
    contentType: 'application/x-ndjson',
  });
  return count;
}
