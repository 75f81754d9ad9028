import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { type Engine, sqlString } from '../engine/duckdb.js';
import { readLines, writeGzipLines } from '../storage/jsonl.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJsonIfExists, writeJson } from '../storage/object-store.js';
import { type HashedIdentifiers, hashEmail, hashPhone } from './identifiers.js';

/**
 * Finding an erased person in stored objects without knowing their identifiers: every string is
 * compared by its hash (customer ids exactly, emails and phones normalized first) and with the
 * platform forms of their keys. Free text (a quarantined line, a rejection message that quotes a
 * value) is searched for email-like and phone-like substrings and a `"customer_id": "…"` field.
 */
export class PersonMatcher {
  private readonly ids: Set<string>;
  private readonly emails: Set<string>;
  private readonly phones: Set<string>;
  private readonly platform: Set<string>;

  constructor(hashes: HashedIdentifiers, platformHashes: readonly string[] = []) {
    this.ids = new Set(hashes.customer_id);
    this.emails = new Set(hashes.email);
    this.phones = new Set(hashes.phone);
    this.platform = new Set([...platformHashes, ...hashes.email, ...hashes.phone]);
  }

  /** Exactly this customer id. */
  isCustomerId(id: string): boolean {
    return this.ids.has(sha256(id));
  }

  /** A string that is, or (in free text) contains, one of their identifiers. */
  string(s: string): boolean {
    if (s.length === 0 || s.length > 100_000) return false;
    if (s.length <= 256) {
      if (this.ids.has(sha256(s)) || this.platform.has(s)) return true;
      if (s.includes('@')) {
        const h = hashEmail(s);
        if (h && this.emails.has(h)) return true;
      }
      if (PHONE_ONLY.test(s)) {
        const h = hashPhone(s);
        if (h && this.phones.has(h)) return true;
      }
    }
    return this.freeText(s);
  }

  private freeText(s: string): boolean {
    if (s.length < 6) return false;
    for (const m of s.matchAll(EMAIL_IN_TEXT)) {
      const h = hashEmail(m[0]);
      if (h && this.emails.has(h)) return true;
    }
    for (const m of s.matchAll(PHONE_IN_TEXT)) {
      const h = hashPhone(m[0]);
      if (h && this.phones.has(h)) return true;
    }
    for (const m of s.matchAll(ID_FIELD_IN_TEXT)) {
      if (this.ids.has(sha256(m[1]!))) return true;
    }
    if (this.platform.size > 0) {
      for (const m of s.matchAll(HEX64_IN_TEXT)) if (this.platform.has(m[0])) return true;
    }
    return false;
  }

  /** Anywhere in a JSON value. */
  mentions(value: unknown): boolean {
    if (typeof value === 'string') return this.string(value);
    if (Array.isArray(value)) return value.some((v) => this.mentions(v));
    if (value !== null && typeof value === 'object') {
      return Object.values(value as Record<string, unknown>).some((v) => this.mentions(v));
    }
    return false;
  }

  /**
   * Whether a JSON value is *about* them: a match reached from the top through objects only (a
   * record's own fields, however nested). A match inside an array is about one element of a
   * collection (a request that carries many people), not about the whole value.
   */
  about(value: unknown): boolean {
    if (typeof value === 'string') return this.string(value);
    if (Array.isArray(value)) return false;
    if (value !== null && typeof value === 'object') {
      return Object.values(value as Record<string, unknown>).some((v) => this.about(v));
    }
    return false;
  }

  /**
   * The value without them, at any depth: an array element that mentions them is removed whole,
   * unless it holds other people too (a request body whose rows are several people): then only
   * their rows inside it are removed and the rest of it is kept. Returns the number of elements
   * removed (0: the value is unchanged).
   */
  prune(value: unknown): { value: unknown; removed: number } {
    if (Array.isArray(value)) {
      let removed = 0;
      const kept: unknown[] = [];
      for (const element of value) {
        if (!this.mentions(element)) {
          kept.push(element);
          continue;
        }
        if (this.holdsOthers(element)) {
          const inner = this.prune(element);
          if (!this.mentions(inner.value)) {
            removed += inner.removed;
            kept.push(inner.value);
            continue;
          }
        }
        removed += 1;
      }
      return { value: removed > 0 ? kept : value, removed };
    }
    if (value !== null && typeof value === 'object') {
      let removed = 0;
      const out: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        const inner = this.prune(v);
        removed += inner.removed;
        out[k] = inner.value;
      }
      return { value: removed > 0 ? out : value, removed };
    }
    return { value, removed: 0 };
  }

  /**
   * Whether a value holds, at any depth, rows of several people: an array of two or more records of
   * one shape (objects with the same keys, or arrays) of which some mention them and some do not.
   * The parts of one person's row (Meta's hashed cells, Google's identifiers of different kinds,
   * TikTok's cells with `{}` for a missing one) are not rows of several people.
   */
  private holdsOthers(value: unknown): boolean {
    if (Array.isArray(value)) {
      if (isRowsOfOneShape(value)) {
        let theirs = false;
        let others = false;
        for (const element of value) {
          if (this.mentions(element)) theirs = true;
          else others = true;
          if (theirs && others) return true;
        }
      }
      return value.some((v) => this.holdsOthers(v));
    }
    if (value !== null && typeof value === 'object') {
      return Object.values(value as Record<string, unknown>).some((v) => this.holdsOthers(v));
    }
    return false;
  }
}

/** Two or more records (objects with the same keys, or arrays): rows of a collection. */
function isRowsOfOneShape(values: unknown[]): boolean {
  if (values.length < 2) return false;
  let shape: string | undefined;
  for (const v of values) {
    if (v === null || typeof v !== 'object') return false;
    const s = Array.isArray(v) ? '[]' : Object.keys(v).sort().join('\u0000');
    if (shape === undefined) shape = s;
    else if (s !== shape) return false;
  }
  return true;
}

const PHONE_ONLY = /^\+?[\d\s().-]{7,24}$/;
const EMAIL_IN_TEXT = /[^\s"'<>(),;:[\]\\]+@[^\s"'<>(),;:[\]\\]+\.[A-Za-z]{2,}/g;
const PHONE_IN_TEXT = /\+?\d[\d\s().-]{5,20}\d/g;
const ID_FIELD_IN_TEXT = /"(?:customer_id|id|merged_from|key)"\s*:\s*"((?:[^"\\]|\\.){1,256})"/g;
const HEX64_IN_TEXT = /\b[0-9a-f]{64}\b/g;

function sha256(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** The outcome of scrubbing one object: how many records were removed (0: left untouched). */
export interface ScrubResult {
  removed: number;
}

/**
 * A gzip JSON Lines object without the lines about them. Lines that only carry them inside a
 * collection (a dry-run request body with many people) keep the others. Kept lines are written back
 * byte for byte; the object is replaced only when something was removed (one put: atomic on both
 * stores).
 */
export async function scrubJsonl(
  store: ObjectStore,
  key: string,
  matcher: PersonMatcher,
): Promise<ScrubResult> {
  let hits = 0;
  for await (const { text } of readLines(store, key)) if (scrubLine(text, matcher) !== text) hits++;
  if (hits === 0) return { removed: 0 };
  let removed = 0;
  async function* scrubbed(): AsyncGenerator<string> {
    for await (const { text } of readLines(store, key)) {
      const out = scrubLine(text, matcher);
      if (out !== text) removed += 1;
      if (out !== undefined) yield out;
    }
  }
  // One put: a failure aborts the upload and the object stays as it was.
  await writeGzipLines(store, key, scrubbed());
  return { removed };
}

/** The line to keep (itself, or pruned), or undefined to drop it. */
function scrubLine(text: string, matcher: PersonMatcher): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    // Not JSON (a malformed raw line): kept unless it carries them.
    return matcher.string(text) ? undefined : text;
  }
  if (!matcher.mentions(value)) return text;
  if (matcher.about(value)) return undefined;
  const pruned = matcher.prune(value);
  return matcher.mentions(pruned.value) ? undefined : JSON.stringify(pruned.value);
}

/** A JSON object with every collection element about them removed (run records, outbox requests). */
export async function scrubJson(
  store: ObjectStore,
  key: string,
  matcher: PersonMatcher,
): Promise<ScrubResult> {
  const value = await readJsonIfExists<unknown>(store, key);
  if (value === undefined || !matcher.mentions(value)) return { removed: 0 };
  const pruned = matcher.prune(value);
  if (matcher.mentions(pruned.value)) {
    // Still about them outside any collection (a request for them alone): the object goes.
    await store.delete([key]);
    return { removed: Math.max(1, pruned.removed) };
  }
  await writeJson(store, key, pruned.value);
  return { removed: pruned.removed };
}

/**
 * A Parquet object without the rows that mention them, rewritten by the SQL engine (zstd, as
 * compaction writes it). Rows are told apart by their position in the file. The day's compaction
 * manifest gets the new row count.
 */
export async function scrubParquet(
  store: ObjectStore,
  key: string,
  matcher: PersonMatcher,
  engine: Engine,
): Promise<ScrubResult> {
  const dir = await mkdtemp(join(tmpdir(), 'audience-sync-erase-'));
  try {
    const local = join(dir, 'in.parquet');
    await pipeline(await store.getStream(key), createWriteStream(local));
    const source = `read_parquet(${sqlString(local)}, file_row_number = true)`;
    const drop: number[] = [];
    for await (const chunk of engine.stream<{ n: number | bigint; j: string }>(
      `SELECT file_row_number AS n, to_json(t)::VARCHAR AS j FROM ${source} t`,
    )) {
      for (const row of chunk) if (matcher.mentions(JSON.parse(row.j))) drop.push(Number(row.n));
    }
    if (drop.length === 0) {
      // A run killed between the rewrite and the manifest update left a stale count: fix it now.
      await setCompactionRows(store, key, engine, local);
      return { removed: 0 };
    }
    const out = join(dir, 'out.parquet');
    await engine.run(
      `COPY (SELECT * EXCLUDE (file_row_number) FROM ${source} WHERE file_row_number NOT IN (${drop.join(', ')}) ORDER BY file_row_number) TO ${sqlString(out)} (FORMAT parquet, COMPRESSION zstd)`,
    );
    await store.put(key, createReadStream(out), { contentType: 'application/vnd.apache.parquet' });
    await setCompactionRows(store, key, engine, out);
    return { removed: drop.length };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The day's compaction manifest names the file with the rows it holds now. */
async function setCompactionRows(
  store: ObjectStore,
  parquetKey: string,
  engine: Engine,
  local: string,
): Promise<void> {
  const manifestKey = `${parquetKey.slice(0, parquetKey.lastIndexOf('/') + 1)}_compacted.json`;
  const manifest = await readJsonIfExists<{ files: { key: string; rows: number }[] }>(store, manifestKey);
  const entry = manifest?.files.find((f) => f.key === parquetKey);
  if (!manifest || !entry) return;
  const [count] = await engine.all<{ n: number }>(
    `SELECT count(*)::INTEGER AS n FROM read_parquet(${sqlString(local)})`,
  );
  if (!count || count.n === entry.rows) return;
  entry.rows = count.n;
  await writeJson(store, manifestKey, manifest);
}
