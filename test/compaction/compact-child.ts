/**
 * Runs one compaction in a child process, so a test can kill it at a named point
 * (`AUDIENCE_SYNC_FAULT=compaction:<point>`) and look at what a real crash leaves behind.
 * Usage: node --import tsx compact-child.ts '<json: {store, dataset, day, cacheDir}>'
 */
import { compactDay } from '../../src/compaction/compact.js';
import type { Dataset } from '../../src/contract/records.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { S3ObjectStore } from '../../src/storage/s3-store.js';

interface Args {
  store: { kind: 'fs'; root: string } | { kind: 's3'; endpoint: string; bucket: string; prefix: string };
  dataset: Dataset;
  day: string;
  cacheDir: string;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const store: ObjectStore =
  args.store.kind === 'fs'
    ? new FsObjectStore(args.store.root)
    : new S3ObjectStore({
        bucket: args.store.bucket,
        prefix: args.store.prefix,
        endpoint: args.store.endpoint,
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
try {
  const report = await compactDay({ store, dataset: args.dataset, day: args.day, cacheDir: args.cacheDir });
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  await store.close();
}
