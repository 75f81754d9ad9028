import type { Readable } from 'node:stream';

/**
 * The one storage interface every stage uses. Keys are `/`-separated, relative to the store's root
 * (a directory, or `s3://bucket/prefix`). Writes are whole-object and atomic: a reader sees the old
 * object or the new one, never half of one.
 */
export interface ObjectInfo {
  key: string;
  size: number;
  lastModified?: Date;
  /** The object's entity tag where the store has one (S3): changes whenever the content does. */
  etag?: string;
}

export type Body = string | Uint8Array | Readable;

export interface PutOptions {
  contentType?: string;
}

export interface ObjectStore {
  /** Where the store points, for logs and manifests (never contains credentials). */
  readonly location: string;
  get(key: string): Promise<Buffer>;
  getStream(key: string): Promise<Readable>;
  put(key: string, body: Body, options?: PutOptions): Promise<void>;
  /** Every key that starts with `prefix`, in ascending key order; pages are fetched lazily. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  exists(key: string): Promise<boolean>;
  delete(keys: readonly string[]): Promise<void>;
  close(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  override readonly name = 'ObjectNotFoundError';
  constructor(
    readonly key: string,
    readonly location: string,
  ) {
    super(`object not found: ${key} in ${location}`);
  }
}

/** Rejects keys that could escape the store's root or that S3 and filesystems treat differently. */
export function assertValidKey(key: string): void {
  if (
    key.length === 0 ||
    key.length > 1024 ||
    key.startsWith('/') ||
    key.endsWith('/') ||
    key.includes('//') ||
    key.includes('\\') ||
    key.includes('\0') ||
    key.split('/').some((part) => part === '.' || part === '..')
  ) {
    throw new Error(`invalid object key: ${JSON.stringify(key.slice(0, 200))}`);
  }
}

/** What tells one version of an object from another: its ETag, or its size and modification time. */
export function objectVersion(info: ObjectInfo): string {
  return info.etag ?? `${info.size}-${info.lastModified?.getTime() ?? ''}`;
}

/** An object's listing entry (size, ETag); ObjectNotFoundError when there is none. */
export async function statObject(store: ObjectStore, key: string): Promise<ObjectInfo> {
  for await (const info of store.list(key)) if (info.key === key) return info;
  throw new ObjectNotFoundError(key, store.location);
}

export async function readText(store: ObjectStore, key: string): Promise<string> {
  return (await store.get(key)).toString('utf8');
}

export async function readJson<T = unknown>(store: ObjectStore, key: string): Promise<T> {
  return JSON.parse(await readText(store, key)) as T;
}

export async function readJsonIfExists<T = unknown>(store: ObjectStore, key: string): Promise<T | undefined> {
  try {
    return await readJson<T>(store, key);
  } catch (error) {
    if (error instanceof ObjectNotFoundError) return undefined;
    throw error;
  }
}

export async function writeJson(store: ObjectStore, key: string, value: unknown): Promise<void> {
  await store.put(key, `${JSON.stringify(value, null, 2)}\n`, { contentType: 'application/json' });
}

export async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const info of store.list(prefix)) keys.push(info.key);
  return keys;
}
