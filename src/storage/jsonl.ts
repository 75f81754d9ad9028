import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { PassThrough } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { ObjectStore } from './object-store.js';

/**
 * Gzip JSON Lines, the format of every data object we write. Writing and reading are streams with
 * backpressure, so memory stays flat however large the object is.
 */

/**
 * Every gzip object we write unless its writer says otherwise: fast, and compresses JSON well. Raw
 * parts are written once and downloaded by every machine that builds from them, so the few percent
 * level 3 saves over level 1 are worth its CPU here; inflating costs the same at either level (a
 * 28.5 MB day of messages, 2026-12-07: 4.80 MB against 4.93 MB, 30–34 ms to inflate either).
 */
const GZIP_LEVEL = 3;
/**
 * Bytes per chunk when a gzip object is read (file reads and zlib's output): Node's defaults (64 KiB
 * from a file, 16 KiB out of zlib) make a million-line object tens of thousands of stream turns,
 * whose bookkeeping on the main thread cost more than the inflating itself (333 MB of snapshot:
 * about 0.9 s of CPU with the defaults, 0.33 s with 256 KiB).
 */
export const STREAM_CHUNK = 256 * 1024;
/**
 * Lines are joined into chunks of about this size before they enter the gzip stream. The stream
 * deflates one written chunk per turn of the thread pool: with 64 KiB chunks the people snapshot's
 * 332 MB took it about twice as long as deflating in one go, and the merge feeding it waited 4.8 s
 * of a 10 s fold for it to drain (2026-12-07). With 1 MiB chunks it never waited.
 */
const CHUNK_CHARS = 1024 * 1024;
/**
 * How far a writer may run ahead of the deflating: a few chunks, so the JavaScript side and zlib's
 * thread work at the same time rather than in turns.
 */
const AHEAD = 4 * 1024 * 1024;
const NEWLINE = Buffer.from('\n');
const NL = 0x0a;

/** A line of a JSON Lines object that could not be read: where it is and why (never its text). */
export interface MalformedLine {
  key: string;
  line: number;
  reason: string;
}

export class JsonlLineError extends Error {
  override readonly name = 'JsonlLineError';
  constructor(
    readonly key: string,
    readonly line: number,
    reason: string,
  ) {
    super(`corrupt JSON line in ${key} at line ${line}: ${reason}`);
  }
}

/** A source of values: arrays, generators and async generators all work. */
export type Values<T> = Iterable<T> | AsyncIterable<T>;

/** Serializes values as JSON Lines, gzipped, into one object. Returns the number of lines written. */
export async function writeJsonl<T>(store: ObjectStore, key: string, values: Values<T>): Promise<number> {
  return writeAll(openJsonlWriter<T>(store, key), values);
}

/**
 * Writes already-serialized JSON lines (without their newline) as one gzip JSON Lines object, for
 * callers that pass lines through untouched (the export's buffered JSON, the snapshot merge's
 * unchanged people): re-serializing them would double the cost. Returns the number of lines.
 * With `copyTo`, the same lines also go, uncompressed, to that local file (complete when this
 * resolves).
 */
export async function writeGzipLines(
  store: ObjectStore,
  key: string,
  lines: Values<string>,
  options: { copyTo?: string | undefined } = {},
): Promise<number> {
  return writeAll(openGzipLinesWriter(store, key, options), lines);
}

/**
 * A line for `writeGzipLineBatches`: serialized JSON text, or the UTF-8 bytes of a line read with
 * `readLineBatches` and passed through as it is (neither with its newline).
 */
export type OutLine = string | Buffer;

/**
 * `writeGzipLines` for producers that pass most lines through untouched (the snapshot merge's
 * unchanged people): lines come a batch at a time, so a million lines are not a million turns of
 * an async loop, and a line given as bytes is written without being decoded and encoded again.
 */
export async function writeGzipLineBatches(
  store: ObjectStore,
  key: string,
  batches: Values<readonly OutLine[]>,
  options: { copyTo?: string | undefined; level?: number } = {},
): Promise<number> {
  const lines = openGzipLinesWriter(store, key, options);
  return writeAll<readonly OutLine[]>({ ...lines, write: (batch) => lines.writeBatch(batch) }, batches);
}

async function writeAll<T>(writer: JsonlWriter<T>, values: Values<T>): Promise<number> {
  try {
    for await (const value of values) await writer.write(value);
  } catch (error) {
    await writer.abort(error);
    throw error;
  }
  return writer.close();
}

/**
 * Uploads a local, uncompressed JSON Lines file (one the SQL engine wrote) as the gzip JSON Lines
 * object `key`, compressed on the way like every object this module writes.
 */
export async function putGzipLinesFile(store: ObjectStore, key: string, path: string): Promise<void> {
  const input = createReadStream(path, { highWaterMark: STREAM_CHUNK });
  const gzip = createGzip({ level: GZIP_LEVEL, chunkSize: STREAM_CHUNK });
  input.on('error', (e) => gzip.destroy(e));
  await store.put(key, input.pipe(gzip), { contentType: 'application/x-ndjson' });
}

/**
 * A gzip JSON Lines object written value by value, for producers that feed several objects at once
 * (the sync's diff writes removals and additions side by side). `write` waits when the store is
 * slower than the producer, so memory stays bounded; `close` finishes the object and returns the
 * number of lines. An upload that fails rejects the next `write` or `close`.
 */
export interface JsonlWriter<T> {
  write(value: T): Promise<void>;
  close(): Promise<number>;
  /** Gives up: the upload fails with `error` and no object is written. */
  abort(error: unknown): Promise<void>;
}

export function openJsonlWriter<T>(store: ObjectStore, key: string): JsonlWriter<T> {
  const lines = openGzipLinesWriter(store, key);
  return {
    write: (value) => lines.write(JSON.stringify(value)),
    close: () => lines.close(),
    abort: (error) => lines.abort(error),
  };
}

/**
 * The one gzip JSON Lines writer: lines are batched into chunks, with backpressure from the store
 * (and from the local file `copyTo`, which gets the same chunks uncompressed). Text lines gather in
 * one string (encoded once per chunk); a line given as bytes joins the chunk as it is. Exported for
 * a producer that writes one object beside another a batch at a time (the snapshot merge writes the
 * changed people's lines beside the whole snapshot).
 */
export function openGzipLinesWriter(
  store: ObjectStore,
  key: string,
  options: { copyTo?: string | undefined; level?: number } = {},
): JsonlWriter<OutLine> & { writeBatch(lines: readonly OutLine[]): Promise<void> } {
  const { copyTo } = options;
  const source = new PassThrough({ highWaterMark: AHEAD });
  const body = source.pipe(createGzip({ level: options.level ?? GZIP_LEVEL, chunkSize: STREAM_CHUNK }));
  // Written beside `source`, not piped from it: the object is ended only once the copy is whole.
  const copy = copyTo === undefined ? undefined : createWriteStream(copyTo);
  const put = store.put(key, body, { contentType: 'application/x-ndjson' });
  // Failing `body` (abort, a broken copy) fails `put`, which reports it; the store may not be reading
  // `body` yet (a local store makes the folder first), so the error must not also be thrown from it.
  body.on('error', () => {});
  const copied = copy && finished(copy);
  // A copy that cannot be written fails the object too: failing `body` fails the upload (the copy's
  // pipe would only unpipe, and the object would be stored anyway). Settled, not raced: the write
  // ends only when the store is done with the object, including its clean-up.
  copied?.catch((error: unknown) => body.destroy(error instanceof Error ? error : new Error(String(error))));
  const uploaded = Promise.allSettled([put, copied]).then(([stored, local]) => {
    if (local.status === 'rejected') throw local.reason;
    if (stored.status === 'rejected') throw stored.reason;
  });
  let failure: unknown;
  const failed = uploaded.then(
    () => new Promise<never>(() => {}),
    (error: unknown) => {
      failure = error;
      throw error;
    },
  );
  failed.catch(() => {});
  let text = '';
  const parts: Buffer[] = [];
  let partBytes = 0;
  let count = 0;
  const pending = () => text.length + partBytes;
  /** Adds one line; whether a chunk is due. */
  const add = (line: OutLine): boolean => {
    count += 1;
    if (typeof line === 'string') {
      text += `${line}\n`;
    } else {
      if (text) {
        const encoded = Buffer.from(text);
        parts.push(encoded);
        partBytes += encoded.length;
        text = '';
      }
      parts.push(line, NEWLINE);
      partBytes += line.length + 1;
    }
    return pending() >= CHUNK_CHARS;
  };
  const flush = async () => {
    let chunk: string | Buffer = text;
    if (parts.length > 0) {
      if (text) parts.push(Buffer.from(text));
      chunk = Buffer.concat(parts);
      parts.length = 0;
      partBytes = 0;
    }
    text = '';
    const toCopy = copy !== undefined && !copy.destroyed && !copy.write(chunk);
    if (!source.write(chunk)) await Promise.race([once(source, 'drain'), failed]);
    if (toCopy) await Promise.race([once(copy, 'drain'), failed]);
  };
  return {
    async write(line) {
      if (failure) throw failure;
      if (add(line)) await flush();
    },
    async writeBatch(lines) {
      if (failure) throw failure;
      for (const line of lines) if (add(line)) await flush();
    },
    async close() {
      if (failure) throw failure;
      if (pending() > 0) await flush();
      // The copy first: ending `source` while a failing copy is still being written would let the
      // store finish the object before the failure reached it.
      if (copy) {
        copy.end();
        await copied!.catch(() => uploaded); // a failed copy: `uploaded` throws its error
      }
      source.end();
      await uploaded;
      return count;
    },
    async abort(error) {
      // The store reads `body`: failing it fails the upload (a piped source would not pass it on).
      const reason = error instanceof Error ? error : new Error(String(error));
      source.unpipe(body);
      source.destroy();
      body.destroy(reason);
      copy?.destroy(reason);
      await Promise.allSettled([put, copied]);
    },
  };
}

export interface Line {
  text: string;
  /** 1-based line number in the object. */
  line: number;
}

/**
 * Splits a gunzipped object into lines; empty lines are skipped but counted. The lines of
 * `readLineBatches`, decoded: one reader splits, numbers and reports a broken object for both.
 */
export async function* readLines(store: ObjectStore, key: string): AsyncGenerator<Line> {
  for await (const batch of readLineBatches(store, key))
    for (const { bytes, line } of batch) yield { text: bytes.toString('utf8'), line };
}

/** A line as bytes: what `readLineBatches` gives. */
export interface LineBytes {
  /** The line's UTF-8 bytes, without its newline (a view into the inflated chunk). */
  bytes: Buffer;
  /** 1-based line number in the object. */
  line: number;
}

/**
 * `readLines` without decoding: each line's bytes, a chunk's lines at a time. For readers that
 * look at a few bytes of most lines and pass them on (the snapshot merge, the real-time lookup of
 * a few people): a newline byte is a newline character in UTF-8, so the lines and their numbers are
 * exactly `readLines`'s, and `bytes.toString()` is its `text`.
 */
export async function* readLineBatches(store: ObjectStore, key: string): AsyncGenerator<LineBytes[]> {
  const source = await store.getStream(key);
  // A truncated gzip stream ends with zlib's "unexpected end of file": surface it as a problem of
  // this object. (With Z_SYNC_FLUSH as the finishing flush, zlib would end quietly at the cut.)
  const gunzip = createGunzip({ chunkSize: STREAM_CHUNK });
  source.on('error', (e) => gunzip.destroy(e));
  source.pipe(gunzip);
  /** The start of a line the previous chunks left unfinished. */
  let carry: Buffer | undefined;
  let line = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      const batch: LineBytes[] = [];
      let start = 0;
      let nl = chunk.indexOf(NL);
      if (carry && nl !== -1) {
        const head = Buffer.concat([carry, chunk.subarray(0, nl)]);
        line += 1;
        if (head.length > 0) batch.push({ bytes: head, line });
        carry = undefined;
        start = nl + 1;
        nl = chunk.indexOf(NL, start);
      }
      while (nl !== -1) {
        line += 1;
        if (nl > start) batch.push({ bytes: chunk.subarray(start, nl), line });
        start = nl + 1;
        nl = chunk.indexOf(NL, start);
      }
      if (start < chunk.length)
        carry = carry ? Buffer.concat([carry, chunk.subarray(start)]) : chunk.subarray(start);
      if (batch.length > 0) yield batch;
    }
  } catch (error) {
    throw new JsonlLineError(key, line + 1, `unreadable gzip data (${(error as Error).message})`);
  }
  if (carry && carry.length > 0) yield [{ bytes: carry, line: line + 1 }];
}

export interface ReadJsonlOptions {
  /**
   * Called for a line that is not a JSON object; reading goes on. Without it, the first corrupt
   * line throws a `JsonlLineError` naming the object key and line number.
   */
  onCorrupt?: (error: JsonlLineError) => void;
}

/** Parses each line as JSON; a corrupt line is reported with its object key and line number. */
export async function* readJsonl<T = Record<string, unknown>>(
  store: ObjectStore,
  key: string,
  options: ReadJsonlOptions = {},
): AsyncGenerator<T> {
  for await (const { text, line } of readLines(store, key)) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      const error = new JsonlLineError(key, line, 'not valid JSON');
      if (!options.onCorrupt) throw error;
      options.onCorrupt(error);
      continue;
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      const error = new JsonlLineError(key, line, 'not a JSON object');
      if (!options.onCorrupt) throw error;
      options.onCorrupt(error);
      continue;
    }
    yield value as T;
  }
}

/** Reads a whole (small) JSONL object into memory. */
export async function readJsonlAll<T = Record<string, unknown>>(
  store: ObjectStore,
  key: string,
): Promise<T[]> {
  const out: T[] = [];
  for await (const value of readJsonl<T>(store, key)) out.push(value);
  return out;
}
