import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { FORGET_NOTICES_PREFIX, readForgetNotice } from '../storage/forget-notices.js';
import { type ObjectInfo, type ObjectStore, objectVersion } from '../storage/object-store.js';
import { EngineError } from './duckdb.js';

/**
 * The SQL engine reads local files. A filesystem store's objects are read in place; an S3 store's
 * raw parts go through a read-through cache on local disk, keyed by object key and ETag (size when
 * the store gives none): raw parts are immutable, so each day downloads only what is new, and a
 * rewritten object (new ETag) is fetched again. The cache is bounded: after each use, the least
 * recently used files beyond `maxBytes` are removed (never the ones that use still needs). Before
 * its first use, it deletes the copies erasures named (storage/forget-notices.ts).
 */

export interface LocalFiles {
  /** Local paths of `objects`, in the same order; fetches what the cache lacks. */
  paths(objects: readonly ObjectInfo[]): Promise<string[]>;
  /** Trims the cache to its bound, keeping `inUse`. */
  trim(inUse?: readonly string[]): Promise<{ removed: number; bytes: number }>;
  /**
   * Deletes every cached version of `keys` (an erasure rewrote them: their old versions hold what
   * it erased). Returns the number of files deleted.
   */
  forget(keys: readonly string[]): Promise<number>;
  readonly cached: boolean;
}

export interface CacheOptions {
  dir: string;
  maxBytes: number;
  /**
   * How long one look at the forget notices stands for every cache of the same store and folder in
   * this process (default a minute): a build opens several, a first compaction hundreds.
   */
  noticeCheckMs?: number;
}

const NOTICE_CHECK_MS = 60_000;
/** The latest look at the forget notices, by cache folder and store location. */
const noticeChecks = new Map<string, { at: number; done: Promise<void> }>();

interface WithLocalPath {
  localPath(key: string): string;
}

function hasLocalPath(store: ObjectStore): store is ObjectStore & WithLocalPath {
  return typeof (store as Partial<WithLocalPath>).localPath === 'function';
}

export function localFiles(store: ObjectStore, cache: CacheOptions): LocalFiles {
  if (hasLocalPath(store)) {
    return {
      cached: false,
      paths: async (objects) => objects.map((o) => store.localPath(o.key)),
      trim: async () => ({ removed: 0, bytes: 0 }),
      forget: async () => 0,
    };
  }
  return new ReadThroughCache(store, cache);
}

/** The file extension DuckDB needs to see (it detects compression and format by name). */
function extensionOf(key: string): string {
  const m = /(\.jsonl\.gz|\.json\.gz|\.parquet|\.jsonl|\.csv\.gz|\.csv)$/.exec(key);
  return m ? m[1]! : '';
}

export class ReadThroughCache implements LocalFiles {
  readonly cached = true;
  private readonly objectsDir: string;
  private ready: Promise<void> | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly options: CacheOptions,
  ) {
    this.objectsDir = join(options.dir, 'objects');
  }

  /** The cache file of an object version: a digest of store + key, then the version. */
  fileOf(object: ObjectInfo): string {
    const id = this.idOf(object.key);
    const version = objectVersion(object).replace(/[^A-Za-z0-9_-]/g, '');
    return join(this.objectsDir, `${id}-${version}${extensionOf(object.key)}`);
  }

  private idOf(key: string): string {
    return createHash('sha256').update(`${this.store.location}\n${key}`).digest('hex').slice(0, 32);
  }

  async forget(keys: readonly string[]): Promise<number> {
    const ids = new Set(keys.map((k) => this.idOf(k)));
    let names: string[];
    try {
      names = await readdir(this.objectsDir);
    } catch {
      return 0; // nothing cached here
    }
    const gone = names.filter((n) => ids.has(n.slice(0, 32)));
    await Promise.all(gone.map((n) => rm(join(this.objectsDir, n), { force: true })));
    return gone.length;
  }

  async paths(objects: readonly ObjectInfo[]): Promise<string[]> {
    await this.prepare();
    const out: string[] = [];
    // A few downloads at a time: enough to hide latency, few enough to stay polite to the store.
    const queue = objects.map((o, i) => ({ o, i }));
    const results = new Array<string>(objects.length);
    const worker = async () => {
      for (let next = queue.shift(); next; next = queue.shift()) results[next.i] = await this.fetch(next.o);
    };
    await Promise.all(Array.from({ length: Math.min(4, objects.length) }, worker));
    out.push(...results);
    return out;
  }

  private prepare(): Promise<void> {
    this.ready ??= mkdir(this.objectsDir, { recursive: true })
      .then(
        () => undefined,
        (error: Error) => {
          throw new EngineError(
            'io',
            `CACHE_DIR ${this.options.dir} cannot be used: ${(error as NodeJS.ErrnoException).code ?? error.message}`,
          );
        },
      )
      .then(() => this.checkForgetNotices())
      .catch((error: unknown) => {
        this.ready = undefined;
        throw error;
      });
    return this.ready;
  }

  /** `applyForgetNotices`, unless a look at them in this process stands (`noticeCheckMs`). */
  private checkForgetNotices(): Promise<void> {
    const key = `${this.options.dir}\n${this.store.location}`;
    const now = Date.now();
    const last = noticeChecks.get(key);
    if (last && now - last.at < (this.options.noticeCheckMs ?? NOTICE_CHECK_MS)) return last.done;
    const done = this.applyForgetNotices();
    noticeChecks.set(key, { at: now, done });
    // A look that failed stands for nothing: the next cache opened looks again.
    done.catch(() => {
      if (noticeChecks.get(key)?.done === done) noticeChecks.delete(key);
    });
    return done;
  }

  /**
   * Deletes the copies that erasures anywhere named (storage/forget-notices.ts), once per notice
   * and machine: the notices applied are listed in CACHE_DIR, per store. One listing of the notices;
   * a notice is read only the first time.
   */
  private async applyForgetNotices(): Promise<void> {
    const appliedFile = join(this.options.dir, 'forget-notices-applied.json');
    // Missing or unreadable: every notice is applied again (it only deletes copies).
    const applied = new Set<string>(
      await readFile(appliedFile, 'utf8')
        .then((text) => (JSON.parse(text) as { applied?: string[] }).applied ?? [])
        .catch(() => []),
    );
    const of = (key: string) => `${this.store.location} ${key}`;
    const fresh: string[] = [];
    for await (const o of this.store.list(FORGET_NOTICES_PREFIX))
      if (!applied.has(of(o.key))) fresh.push(o.key);
    if (fresh.length === 0) return;
    // Every fresh notice's keys at once: one listing of the cached files, not one per notice.
    const named: string[] = [];
    for (const key of fresh) named.push(...(await readForgetNotice(this.store, key)));
    await this.forget(named);
    for (const key of fresh) applied.add(of(key));
    // Replaced whole: two processes applying at once both end with a complete file.
    const partial = `${appliedFile}.${process.pid}.${randomBytes(4).toString('hex')}.partial`;
    await writeFile(partial, JSON.stringify({ applied: [...applied].sort() }));
    await rename(partial, appliedFile);
  }

  private async fetch(object: ObjectInfo): Promise<string> {
    const file = this.fileOf(object);
    try {
      const st = await stat(file);
      if (st.size === object.size) {
        const now = new Date();
        await utimes(file, now, now); // most recently used
        return file;
      }
    } catch {
      // not cached yet
    }
    const partial = `${file}.${process.pid}.${Math.random().toString(36).slice(2)}.partial`;
    try {
      await pipeline(await this.store.getStream(object.key), createWriteStream(partial));
      await rename(partial, file);
    } catch (error) {
      await rm(partial, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'ENOSPC' || code === 'EROFS' || code === 'ENOENT')
        throw new EngineError('io', `CACHE_DIR ${this.options.dir} cannot be used: ${code}`, object.key);
      throw error;
    }
    return file;
  }

  async trim(inUse: readonly string[] = []): Promise<{ removed: number; bytes: number }> {
    const keep = new Set(inUse);
    let entries: { file: string; size: number; used: number }[] = [];
    try {
      const names = await readdir(this.objectsDir);
      entries = await Promise.all(
        names
          .filter((n) => !n.endsWith('.partial'))
          .map(async (n) => {
            const file = join(this.objectsDir, n);
            const st = await stat(file);
            return { file, size: st.size, used: st.mtimeMs };
          }),
      );
    } catch {
      return { removed: 0, bytes: 0 };
    }
    let total = entries.reduce((n, e) => n + e.size, 0);
    entries.sort((a, b) => a.used - b.used);
    let removed = 0;
    let bytes = 0;
    for (const e of entries) {
      if (total <= this.options.maxBytes) break;
      if (keep.has(e.file)) continue;
      await rm(e.file, { force: true });
      total -= e.size;
      removed += 1;
      bytes += e.size;
    }
    return { removed, bytes };
  }
}

/**
 * An engine error names local files (the cache's, or the filesystem store's); the person reading
 * it needs the object. Paths are replaced by their keys, and the first one becomes `object`.
 */
export function namingObjects(error: unknown, files: ReadonlyMap<string, string>): unknown {
  if (!(error instanceof EngineError)) return error;
  let message = error.message;
  let object = error.object;
  for (const [path, key] of files) {
    if (!message.includes(path)) continue;
    message = message.replaceAll(path, key);
    object ??= key;
  }
  return message === error.message ? error : new EngineError(error.kind, message, object);
}

/** Local paths of `objects` (`files.paths`), each noted in `inUse` (path → object key) for `namingObjects`. */
export async function pathsOf(
  files: LocalFiles,
  objects: readonly ObjectInfo[],
  inUse: Map<string, string>,
): Promise<string[]> {
  const paths = await files.paths(objects);
  for (const [i, path] of paths.entries()) inUse.set(path, objects[i]!.key);
  return paths;
}
