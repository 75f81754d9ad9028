import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { inject } from 'vitest';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { S3ObjectStore } from '../../src/storage/s3-store.js';

/** s3rver accepts any credentials; these are not secrets. */
export const TEST_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };

export interface TestStore {
  store: ObjectStore;
  /** Removes what the test wrote and closes clients. */
  cleanup(): Promise<void>;
}

export function uniqueName(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A fresh bucket on the run's s3rver, so tests never see each other's objects. */
export async function createS3TestStore(
  options: { prefix?: string; partSize?: number } = {},
): Promise<TestStore & { store: S3ObjectStore; bucket: string; endpoint: string }> {
  const endpoint = inject('s3Endpoint');
  const bucket = uniqueName('test').toLowerCase();
  const store = new S3ObjectStore({
    bucket,
    prefix: options.prefix ?? 'acme/test',
    endpoint,
    credentials: TEST_S3_CREDENTIALS,
    ...(options.partSize ? { partSize: options.partSize } : {}),
  });
  await store.client.send(new CreateBucketCommand({ Bucket: bucket }));
  return { store, bucket, endpoint, cleanup: () => store.close() };
}

export async function createFsTestStore(): Promise<TestStore & { root: string }> {
  const root = await mkdtemp(join(tmpdir(), 'audience-sync-store-'));
  const store = new FsObjectStore(root);
  return { store, root, cleanup: () => rm(root, { recursive: true, force: true }) };
}

/**
 * `store` with the methods in `overrides` in place of its own: a real store that, at one point,
 * does what another process or a failing service would (deletes an object, refuses a write).
 */
export function storeWith(store: ObjectStore, overrides: Partial<ObjectStore>): ObjectStore {
  return new Proxy(store, {
    get(target, prop) {
      if (prop in overrides) return overrides[prop as keyof ObjectStore];
      const value = Reflect.get(target, prop, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/** Both implementations, for contract suites that must hold for each. */
export const STORE_KINDS = [
  { kind: 'fs', create: createFsTestStore },
  { kind: 's3', create: createS3TestStore },
] as const;
