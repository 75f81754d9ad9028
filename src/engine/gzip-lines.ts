import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { constants, createGunzip, createGzip } from 'node:zlib';
import { STREAM_CHUNK } from '../storage/jsonl.js';

/**
 * JSON Lines parts as the SQL engine needs them. The engine's gzip reader does not check a part's
 * integrity — a truncated or damaged part reads as its good lines followed by garbage, with no
 * error — and it stops the whole query on a line that is not UTF-8 or is longer than its line
 * limit. So compaction first streams every part through zlib here (inflating only: no parsing):
 * a part that is whole, valid UTF-8, has no over-long line and no carriage return inside a line
 * (the engine would split the line there) is read by the engine as it is; any
 * other part is rewritten by `normalizeGzipLines` into a scratch copy the engine can read, with the
 * same line numbers, and what could not be kept is reported line by line.
 */

/** Lines longer than this are not given to the engine (its line reader stops at 2,000,000 bytes). */
const MAX_LINE_BYTES = 1_990_000;

const NL = 0x0a;
const CR = 0x0d;

/** A carriage return not followed by a newline ends a line for the engine, not for JavaScript. */
function hasLoneCr(chunk: Buffer): boolean {
  for (let i = chunk.indexOf(CR); i !== -1; i = chunk.indexOf(CR, i + 1)) {
    if (i + 1 >= chunk.length || chunk[i + 1] !== NL) return true;
  }
  return false;
}

export type GzipCheck =
  /** `lines`: the part's lines, empty ones included (a last line without a newline counts). */
  { ok: true; lines: number } | { ok: false; reason: string; gzipError?: string };

/** Counts newline bytes from `from` to `to` (exclusive). */
function countNewlines(chunk: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = chunk.indexOf(NL, from); i !== -1 && i < to; i = chunk.indexOf(NL, i + 1)) n += 1;
  return n;
}

/**
 * Whether the engine can read the part at `path` as it is (whole gzip, UTF-8, lines within the
 * limit), and how many lines it has. With `copyTo`, what it inflates is also written there: a
 * part that passes can be read by the engine from that uncompressed copy (the engine's own gzip
 * reader costs it about as much again as parsing; zlib here is the faster inflater). A part that
 * fails leaves no copy.
 */
export async function checkGzipLines(
  path: string,
  maxLineBytes = MAX_LINE_BYTES,
  copyTo?: string,
): Promise<GzipCheck> {
  const copy = copyTo === undefined ? undefined : createWriteStream(copyTo);
  const result = await checkInflating(path, maxLineBytes, async (chunk) => {
    if (copy && !copy.write(chunk)) await once(copy, 'drain');
  });
  if (copy) {
    copy.end();
    await once(copy, 'close');
    if (!result.ok) await rm(copyTo!, { force: true });
  }
  return result;
}

async function checkInflating(
  path: string,
  maxLineBytes: number,
  onChunk: (chunk: Buffer) => Promise<void>,
): Promise<GzipCheck> {
  const gunzip = createGunzip({ chunkSize: STREAM_CHUNK });
  const input = createReadStream(path, { highWaterMark: STREAM_CHUNK });
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  let carry: Buffer = Buffer.alloc(0);
  let lines = 0;
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      await onChunk(chunk);
      if (hasLoneCr(chunk)) return { ok: false, reason: 'carriage return inside a line' };
      const first = chunk.indexOf(NL);
      if (first === -1) {
        carry = Buffer.concat([carry, chunk]);
        if (carry.length > maxLineBytes) return { ok: false, reason: 'line too long' };
        continue;
      }
      const head =
        carry.length > 0 ? Buffer.concat([carry, chunk.subarray(0, first)]) : chunk.subarray(0, first);
      if (head.length > maxLineBytes) return { ok: false, reason: 'line too long' };
      const last = chunk.lastIndexOf(NL);
      lines += 1 + countNewlines(chunk, first + 1, last + 1);
      // Lines inside one chunk are shorter than the chunk, so only their encoding needs a look.
      if (!isUtf8(head) || !isUtf8(chunk.subarray(first + 1, last)))
        return { ok: false, reason: 'not UTF-8' };
      carry = Buffer.from(chunk.subarray(last + 1));
    }
  } catch (error) {
    const message = (error as Error).message;
    return { ok: false, reason: `unreadable gzip data (${message})`, gzipError: message };
  } finally {
    input.destroy();
  }
  if (carry.length > maxLineBytes) return { ok: false, reason: 'line too long' };
  if (!isUtf8(carry)) return { ok: false, reason: 'not UTF-8' };
  return { ok: true, lines: lines + (carry.length > 0 ? 1 : 0) };
}

export interface LineProblem {
  /** 1-based line number in the part. */
  line: number;
  reason: string;
  /** What could be read of the line (invalid UTF-8 replaced), for the quarantine. */
  text: string;
}

export interface Normalized {
  /** Lines written (each line of the part up to a break, the empty ones included). */
  lines: number;
  /** Lines not kept: over-long lines (written as empty lines) and the line a gzip break cut. */
  problems: LineProblem[];
}

/**
 * Copies the part at `path` into a gzip JSON Lines file the engine can read, line for line:
 * invalid UTF-8 is replaced (U+FFFD, as every JavaScript reader of the part decodes it), an
 * over-long line becomes an empty line (so later line numbers stay the same) and is reported, a
 * line with a carriage return inside is kept (the returns as spaces) when it is a JSON object and
 * reported otherwise (as `JSON.parse` judges it: the engine would see two lines), and
 * at a gzip break the complete lines before it are kept and the break is reported at the line it
 * cut, `unreadable gzip data (<zlib's message>)`.
 */
export async function normalizeGzipLines(
  path: string,
  outPath: string,
  options: { maxLineBytes?: number; gzipError?: string } = {},
): Promise<Normalized> {
  const maxLineBytes = options.maxLineBytes ?? MAX_LINE_BYTES;
  // Z_SYNC_FLUSH: at a truncation, hand over what was inflated before the error is raised.
  const gunzip = createGunzip({ chunkSize: STREAM_CHUNK, finishFlush: constants.Z_SYNC_FLUSH });
  const input = createReadStream(path, { highWaterMark: STREAM_CHUNK });
  input.on('error', (e) => gunzip.destroy(e));
  input.pipe(gunzip);
  const gzip = createGzip({ level: 1 });
  const output = createWriteStream(outPath);
  gzip.pipe(output);
  const closed = once(output, 'close');
  const problems: LineProblem[] = [];
  let lines = 0;
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const write = async (buf: Buffer) => {
    if (!gzip.write(buf)) await once(gzip, 'drain');
  };
  const emitLine = async (line: Buffer) => {
    lines += 1;
    if (line.length > maxLineBytes) {
      problems.push({
        line: lines,
        reason: `line longer than ${maxLineBytes} bytes`,
        text: line.toString('utf8'),
      });
      await write(Buffer.from('\n'));
      return;
    }
    let out = isUtf8(line) ? line : Buffer.from(line.toString('utf8'));
    const body = out.length > 0 && out[out.length - 1] === CR ? out.subarray(0, -1) : out;
    if (body.includes(CR)) {
      const text = out.toString('utf8');
      const reason = jsonObjectProblem(text);
      if (reason) {
        problems.push({ line: lines, reason, text });
        await write(Buffer.from('\n'));
        return;
      }
      // Outside strings a carriage return is whitespace; inside one it would not be valid JSON.
      out = Buffer.from(text.replaceAll('\r', ' '));
    }
    await write(out);
    await write(Buffer.from('\n'));
  };
  const brokenAt = (message: string) => {
    const text = new StringDecoder('utf8').end(Buffer.concat(pending));
    problems.push({ line: lines + 1, reason: `unreadable gzip data (${message})`, text });
  };
  try {
    for await (const chunk of gunzip as AsyncIterable<Buffer>) {
      let start = 0;
      for (let nl = chunk.indexOf(NL); nl !== -1; nl = chunk.indexOf(NL, start)) {
        const piece = chunk.subarray(start, nl);
        const line = pending.length > 0 ? Buffer.concat([...pending, piece]) : piece;
        pending = [];
        pendingBytes = 0;
        await emitLine(line);
        start = nl + 1;
      }
      if (start < chunk.length) {
        pending.push(Buffer.from(chunk.subarray(start)));
        pendingBytes += chunk.length - start;
      }
    }
    if (options.gzipError !== undefined) {
      // Inflating with a sync flush does not fail at a truncation: the check that did says where
      // the part ends. What follows the last newline is the line the break cut.
      brokenAt(options.gzipError);
    } else if (pendingBytes > 0) {
      // A whole part may end without a newline: its last line is complete.
      await emitLine(Buffer.concat(pending));
    }
  } catch (error) {
    brokenAt((error as Error).message);
  } finally {
    input.destroy();
  }
  gzip.end();
  await closed;
  return { lines, problems };
}

/** Why a line is not a record, in the words of the SQL relation (`src/engine/raw.ts`), or undefined. */
function jsonObjectProblem(text: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return 'not valid JSON';
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? undefined
    : 'not a JSON object';
}

/**
 * The text of the given line numbers of a local gzip JSON Lines file (for the quarantine: the
 * engine reports which lines are malformed, not what they hold). Stops at a gzip break.
 */
export async function readLinesAt(path: string, wanted: ReadonlySet<number>): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  if (wanted.size === 0) return out;
  const last = Math.max(...wanted);
  const input = createReadStream(path);
  // A part's uncompressed copy (readableParts with `inflate`) is read as it is.
  let lines: AsyncIterable<Buffer> = input;
  if (path.endsWith('.gz')) {
    const gunzip = createGunzip({ finishFlush: constants.Z_SYNC_FLUSH });
    input.on('error', (e) => gunzip.destroy(e));
    input.pipe(gunzip);
    lines = gunzip;
  }
  const decoder = new StringDecoder('utf8');
  let rest = '';
  let line = 0;
  try {
    for await (const chunk of lines) {
      const text = rest + decoder.write(chunk);
      let start = 0;
      for (let nl = text.indexOf('\n'); nl !== -1; nl = text.indexOf('\n', start)) {
        line += 1;
        if (wanted.has(line)) out.set(line, text.slice(start, nl));
        start = nl + 1;
        if (line >= last) return out;
      }
      rest = text.slice(start);
    }
    rest += decoder.end();
    if (rest.length > 0 && wanted.has(line + 1)) out.set(line + 1, rest);
  } catch {
    // A damaged part: the lines before the break are all there is.
  } finally {
    input.destroy();
  }
  return out;
}

export interface ReadablePart {
  key: string;
  /** The part itself, or its repaired copy. */
  path: string;
  /** Why the part needed a copy (undefined: read as it is). */
  repaired: string | undefined;
  /** What could not be kept, by line. */
  problems: LineProblem[];
  /** Lines of a part read as it is (`checkGzipLines`); undefined for a repaired copy. */
  lines: number | undefined;
}

/**
 * Every JSON Lines part as a file the engine can read (`checkGzipLines`): the part itself — or,
 * with `inflate`, its uncompressed copy in `scratch`, written while it is checked — or a repaired
 * copy written into `scratch` (`normalizeGzipLines`), four parts at a time. The one path by which
 * compaction and the build hand JSON Lines to the engine. Readers tell the forms apart by the
 * file's extension (`.gz` or not).
 */
export async function readableParts(
  parts: readonly { key: string; path: string }[],
  scratch: string,
  options: { inflate?: boolean } = {},
): Promise<ReadablePart[]> {
  const out = new Array<ReadablePart>(parts.length);
  let next = 0;
  const lane = async () => {
    for (let i = next++; i < parts.length; i = next++) {
      const part = parts[i]!;
      const plain = options.inflate ? join(scratch, `plain-${i}-${basename(part.path, '.gz')}`) : undefined;
      const check = await checkGzipLines(part.path, MAX_LINE_BYTES, plain);
      if (check.ok) {
        out[i] = {
          key: part.key,
          path: plain ?? part.path,
          repaired: undefined,
          problems: [],
          lines: check.lines,
        };
        continue;
      }
      const copy = join(scratch, `repaired-${i}-${basename(part.path)}`);
      const normalized = await normalizeGzipLines(
        part.path,
        copy,
        check.gzipError !== undefined ? { gzipError: check.gzipError } : {},
      );
      out[i] = {
        key: part.key,
        path: copy,
        repaired: check.reason,
        problems: normalized.problems,
        lines: undefined,
      };
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, parts.length) }, lane));
  return out;
}
