import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FsObjectStore } from './fs-store.js';
import { LAYOUT_KEY, LAYOUT_VERSION } from './keys.js';
import { type ObjectStore, readJsonIfExists, writeJson } from './object-store.js';
import { S3ObjectStore } from './s3-store.js';

/** The S3-related settings from the environment (names in docs/environment.md, "Store"). */
export interface StoreSettings {
  S3_ENDPOINT?: string | undefined;
  AWS_REGION?: string | undefined;
  AWS_ACCESS_KEY_ID?: string | undefined;
  AWS_SECRET_ACCESS_KEY?: string | undefined;
  S3_SSE?: 'AES256' | 'aws:kms' | undefined;
  S3_SSE_KMS_KEY_ID?: string | undefined;
}

export type StoreTarget = { kind: 's3'; bucket: string; prefix: string } | { kind: 'fs'; root: string };

/**
 * `s3://bucket/prefix`, `file:///absolute/path`, or a plain directory path (relative to the
 * working directory). Throws a one-line error for anything else.
 */
export function parseStoreUrl(url: string, cwd = process.cwd()): StoreTarget {
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash === -1 ? rest : rest.slice(0, slash);
    const prefix = slash === -1 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new Error(`STORE_URL has an invalid bucket name: ${JSON.stringify(bucket)}`);
    }
    return { kind: 's3', bucket, prefix };
  }
  if (url.startsWith('file:')) {
    if (!url.startsWith('file:///')) {
      throw new Error(
        'STORE_URL file URLs must be absolute (file:///path); use a plain path such as ./data instead',
      );
    }
    return { kind: 'fs', root: fileURLToPath(url) };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    throw new Error(
      `STORE_URL scheme is not supported (use s3://, file:/// or a path): ${url.split('://')[0]}://`,
    );
  }
  if (url.trim() === '') throw new Error('STORE_URL is empty');
  return { kind: 'fs', root: isAbsolute(url) ? url : resolve(cwd, url) };
}

export function openStore(url: string, settings: StoreSettings = {}): ObjectStore {
  const target = parseStoreUrl(url);
  if (target.kind === 'fs') return new FsObjectStore(target.root);
  return new S3ObjectStore({
    bucket: target.bucket,
    prefix: target.prefix,
    ...(settings.S3_ENDPOINT ? { endpoint: settings.S3_ENDPOINT } : {}),
    ...(settings.AWS_REGION ? { region: settings.AWS_REGION } : {}),
    ...(settings.AWS_ACCESS_KEY_ID && settings.AWS_SECRET_ACCESS_KEY
      ? {
          credentials: {
            accessKeyId: settings.AWS_ACCESS_KEY_ID,
            secretAccessKey: settings.AWS_SECRET_ACCESS_KEY,
          },
        }
      : {}),
    ...(settings.S3_SSE ? { sse: settings.S3_SSE } : {}),
    ...(settings.S3_SSE_KMS_KEY_ID ? { sseKmsKeyId: settings.S3_SSE_KMS_KEY_ID } : {}),
  });
}

interface LayoutDoc {
  layout_version: number;
  created_at: string;
}

/**
 * Writes `_layout.json` once; refuses a store laid out by an incompatible version, so an upgrade
 * never mixes two layouts under one prefix.
 */
export async function ensureLayout(store: ObjectStore): Promise<void> {
  const existing = await readJsonIfExists<LayoutDoc>(store, LAYOUT_KEY);
  if (existing) {
    if (existing.layout_version !== LAYOUT_VERSION) {
      throw new Error(
        `store ${store.location} has layout version ${existing.layout_version}; this build reads version ${LAYOUT_VERSION}`,
      );
    }
    return;
  }
  await writeJson(store, LAYOUT_KEY, {
    layout_version: LAYOUT_VERSION,
    created_at: new Date().toISOString(),
  });
}
