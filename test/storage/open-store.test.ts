import { describe, expect, it } from 'vitest';
import { FsObjectStore } from '../../src/storage/fs-store.js';
import { keys, partitionDay } from '../../src/storage/keys.js';
import { readJson } from '../../src/storage/object-store.js';
import { ensureLayout, openStore, parseStoreUrl } from '../../src/storage/open-store.js';
import { S3ObjectStore } from '../../src/storage/s3-store.js';
import { createFsTestStore } from '../helpers/stores.js';

describe('STORE_URL', () => {
  it('accepts s3://bucket/prefix, file:///abs and plain paths', () => {
    expect(parseStoreUrl('s3://exports/acme/prod/')).toEqual({
      kind: 's3',
      bucket: 'exports',
      prefix: 'acme/prod',
    });
    expect(parseStoreUrl('s3://exports')).toEqual({ kind: 's3', bucket: 'exports', prefix: '' });
    expect(parseStoreUrl('file:///var/data')).toEqual({ kind: 'fs', root: '/var/data' });
    expect(parseStoreUrl('./data', '/srv/app')).toEqual({ kind: 'fs', root: '/srv/app/data' });
    expect(parseStoreUrl('/abs/dir')).toEqual({ kind: 'fs', root: '/abs/dir' });
  });

  it('rejects what is not a valid location, saying why', () => {
    expect(() => parseStoreUrl('file://./data')).toThrow(/file URLs must be absolute/);
    expect(() => parseStoreUrl('gs://bucket/x')).toThrow(/scheme is not supported/);
    expect(() => parseStoreUrl('s3://Bad_Bucket/x')).toThrow(/invalid bucket name/);
  });

  it('opens the matching implementation', async () => {
    const fs = openStore('/tmp/x');
    const s3 = openStore('s3://exports/acme/prod', {
      S3_ENDPOINT: 'http://127.0.0.1:9000',
      S3_SSE: 'AES256',
    });
    expect(fs).toBeInstanceOf(FsObjectStore);
    expect(s3).toBeInstanceOf(S3ObjectStore);
    expect(s3.location).toBe('s3://exports/acme/prod/');
    await s3.close();
  });
});

describe('layout', () => {
  it('builds every documented key and refuses unsafe segments', () => {
    expect(keys.rawPart('events', '2026-11-28', '1764357285000-0', '1764357285999-3')).toBe(
      'raw/events/dt=2026-11-28/part-1764357285000-0-1764357285999-3.jsonl.gz',
    );
    expect(keys.peopleSnapshot('2026-11-28')).toBe('people/dt=2026-11-28/people.jsonl.gz');
    expect(keys.members('high_intent', '2026-11-28')).toBe(
      'audiences/high_intent/dt=2026-11-28/members.jsonl.gz',
    );
    expect(keys.manifest('high_intent', '2026-11-28')).toBe(
      'audiences/high_intent/dt=2026-11-28/manifest.json',
    );
    expect(keys.ledger('meta', 'high_intent')).toBe('sync/meta/high_intent/ledger.jsonl.gz');
    expect(keys.syncRun('meta', 'high_intent', 'r1')).toBe('sync/meta/high_intent/runs/r1.json');
    expect(keys.outboxPrefix('meta', 'a', 'r1')).toBe('outbox/meta/a/r1/');
    expect(keys.liftReport('a', '2026-11-28', 'html')).toBe('reports/lift/a/dt=2026-11-28/report.html');
    expect(keys.quarantinePart('events', '2026-11-28', '1-2')).toBe(
      'quarantine/events/dt=2026-11-28/part-1-2.jsonl.gz',
    );
    expect(partitionDay('raw/events/dt=2026-11-28/part-1-2.jsonl.gz')).toBe('2026-11-28');
    expect(() => keys.members('../etc', '2026-11-28')).toThrow(/invalid audience id/);
    expect(() => keys.members('a', '28/11/2026')).toThrow(/invalid day/);
  });

  it('writes _layout.json once and refuses a store of another layout version', async () => {
    const { store, cleanup } = await createFsTestStore();
    try {
      await ensureLayout(store);
      const first = await readJson<{ layout_version: number; created_at: string }>(store, '_layout.json');
      expect(first.layout_version).toBe(1);
      await ensureLayout(store);
      expect(await readJson(store, '_layout.json')).toEqual(first);
      await store.put('_layout.json', JSON.stringify({ layout_version: 99 }));
      await expect(ensureLayout(store)).rejects.toThrow(/layout version 99/);
    } finally {
      await cleanup();
    }
  });
});
