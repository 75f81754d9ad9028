import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  assertValidKey,
  type Body,
  type ObjectInfo,
  ObjectNotFoundError,
  type ObjectStore,
} from './object-store.js';

/** Temporary files carry this marker; listings skip them, so half-written objects are invisible. */
const TMP_MARKER = '.tmp-';

/**
 * The embedded default: a directory. Writes go to a temporary file in the target directory and are
 * renamed into place (atomic on POSIX), so readers never see a partial object.
 */
export class FsObjectStore implements ObjectStore {
  readonly location: string;

  constructor(private readonly root: string) {
    this.location = `file://${root}`;
  }

  /** The file that holds `key` (the SQL engine reads local objects in place). */
  localPath(key: string): string {
    return this.path(key);
  }

  private path(key: string): string {
    assertValidKey(key);
    return join(this.root, ...key.split('/'));
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.path(key));
    } catch (error) {
      throw this.mapError(error, key);
    }
  }

  async getStream(key: string): Promise<Readable> {
    const path = this.path(key);
    // Open eagerly so a missing key fails here, not on the first read.
    try {
      const s = await stat(path);
      if (!s.isFile()) throw new ObjectNotFoundError(key, this.location);
    } catch (error) {
      throw this.mapError(error, key);
    }
    return createReadStream(path, { highWaterMark: 256 * 1024 });
  }

  async put(key: string, body: Body): Promise<void> {
    const path = this.path(key);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${dirname(path)}${sep}.${randomBytes(6).toString('hex')}${TMP_MARKER}${process.pid}`;
    try {
      if (body instanceof Readable) await pipeline(body, createWriteStream(tmp));
      else await writeFile(tmp, body);
      await rename(tmp, path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    // Walk from the deepest directory the prefix names, then filter by the full prefix and sort by
    // key: a directory walk alone does not give S3's key order (`a-b` sorts before `a/b`).
    const slash = prefix.lastIndexOf('/');
    const base = slash >= 0 ? prefix.slice(0, slash) : '';
    const start = base ? join(this.root, ...base.split('/')) : this.root;
    const found: ObjectInfo[] = [];
    await this.walk(start, prefix, found);
    found.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    yield* found;
  }

  private async walk(dir: string, prefix: string, out: ObjectInfo[]): Promise<void> {
    let entries: import('node:fs').Dirent[];
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return;
      throw error;
    }
    for (const entry of entries) {
      const full = join(dir, entry.name);
      const key = relative(this.root, full).split(sep).join('/');
      if (entry.isDirectory()) {
        // Only descend where keys could still match the prefix.
        if (`${key}/`.startsWith(prefix) || prefix.startsWith(`${key}/`)) await this.walk(full, prefix, out);
      } else if (entry.isFile() && !entry.name.includes(TMP_MARKER) && key.startsWith(prefix)) {
        // Deleted between the directory read and here (a concurrent writer cleaning up): S3 would
        // not list it either, so neither do we.
        const s = await stat(full).catch((error: unknown) => {
          if (isCode(error, 'ENOENT')) return undefined;
          throw error;
        });
        if (s) out.push({ key, size: s.size, lastModified: s.mtime });
      }
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.path(key))).isFile();
    } catch (error) {
      if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR')) return false;
      throw error;
    }
  }

  async delete(keys: readonly string[]): Promise<void> {
    for (const key of keys) {
      try {
        await unlink(this.path(key));
      } catch (error) {
        if (!isCode(error, 'ENOENT')) throw error;
      }
    }
  }

  async close(): Promise<void> {}

  private mapError(error: unknown, key: string): unknown {
    if (error instanceof ObjectNotFoundError) return error;
    if (isCode(error, 'ENOENT') || isCode(error, 'ENOTDIR') || isCode(error, 'EISDIR')) {
      return new ObjectNotFoundError(key, this.location);
    }
    return error;
  }
}

function isCode(error: unknown, code: string): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: string }).code === code;
}
