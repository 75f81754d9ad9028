import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type JsonlLineError, readJsonl, readJsonlAll, writeJsonl } from '../../src/storage/jsonl.js';
import { listKeys, ObjectNotFoundError, type ObjectStore } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';

/** The same behaviour, whichever store is behind the interface. */
describe.each(STORE_KINDS)('object store contract: $kind', ({ kind, create }) => {
  let t: TestStore;
  let store: ObjectStore;
  beforeEach(async () => {
    // A small part size on S3 makes the multipart path cheap to exercise.
    t = kind === 's3' ? await create({ partSize: 5 * 1024 * 1024 }) : await create();
    store = t.store;
  });
  afterEach(() => t.cleanup());

  it('round-trips bytes exactly', async () => {
    const bytes = Buffer.from([0, 1, 2, 255, 254, 10, 13, 0]);
    await store.put('a/b/bytes.bin', bytes);
    expect(Buffer.compare(await store.get('a/b/bytes.bin'), bytes)).toBe(0);
    expect(await store.exists('a/b/bytes.bin')).toBe(true);
  });

  it('round-trips 100,000 JSONL records through gzip streams', async () => {
    function* records() {
      for (let i = 0; i < 100_000; i++) yield { id: `e${i}`, n: i, s: `välue ${i % 97}` };
    }
    const written = await writeJsonl(store, 'raw/events/dt=2026-11-28/part-1-2.jsonl.gz', records());
    expect(written).toBe(100_000);
    let count = 0;
    let sum = 0;
    for await (const r of readJsonl<{ id: string; n: number; s: string }>(
      store,
      'raw/events/dt=2026-11-28/part-1-2.jsonl.gz',
    )) {
      if (r.id !== `e${r.n}` || r.s !== `välue ${r.n % 97}`) throw new Error(`record ${count} differs`);
      count += 1;
      sum += r.n;
    }
    expect(count).toBe(100_000);
    expect(sum).toBe((99_999 * 100_000) / 2);
  });

  it('lists more than 1,000 keys completely, in key order, by prefix', async () => {
    const expected: string[] = [];
    const batch: Promise<void>[] = [];
    for (let i = 0; i < 1_050; i++) {
      const key = `many/dt=2026-11-${String((i % 3) + 1).padStart(2, '0')}/k${String(i).padStart(5, '0')}`;
      expected.push(key);
      batch.push(store.put(key, 'x'));
      if (batch.length === 50) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
    await store.put('many-sibling', 'y');
    await store.put('other/k', 'z');
    const keys = await listKeys(store, 'many/');
    expect(keys).toEqual([...expected].sort());
    expect(await listKeys(store, 'many/dt=2026-11-02/')).toHaveLength(350);
    // A prefix that is not a directory boundary still matches like S3 does.
    expect(await listKeys(store, 'many-')).toEqual(['many-sibling']);
    expect(await listKeys(store, 'many/dt=2026-11-0')).toHaveLength(1_050);
    expect(await listKeys(store, 'nothing/')).toEqual([]);
  });

  it('stores an object large enough to need multipart upload', async () => {
    const part = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < part.length; i++) part[i] = (i * 31) % 251;
    const parts = 12; // 12 MiB: three parts of 5 MiB on S3
    await store.put(
      'big/object.bin',
      Readable.from(
        (function* () {
          for (let i = 0; i < parts; i++) yield part;
        })(),
      ),
    );
    const back = await store.get('big/object.bin');
    expect(back.length).toBe(parts * part.length);
    expect(Buffer.compare(back.subarray(5 * part.length, 6 * part.length), part)).toBe(0);
    const info: { size: number }[] = [];
    for await (const i of store.list('big/')) info.push(i);
    expect(info[0]?.size).toBe(parts * part.length);
  });

  it('throws a typed not-found error for a missing key', async () => {
    await expect(store.get('missing/key')).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getStream('missing/key')).rejects.toMatchObject({
      name: 'ObjectNotFoundError',
      key: 'missing/key',
    });
    expect(await store.exists('missing/key')).toBe(false);
  });

  it('handles concurrent writers to different keys', async () => {
    await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        writeJsonl(store, `conc/p${i}.jsonl.gz`, [{ writer: i }, { writer: i, last: true }]),
      ),
    );
    for (let i = 0; i < 40; i++) {
      expect(await readJsonlAll(store, `conc/p${i}.jsonl.gz`)).toEqual([
        { writer: i },
        { writer: i, last: true },
      ]);
    }
  });

  it('writes no object when the values fail half-way, and keeps the old one', async () => {
    await writeJsonl(store, 'fail/part.jsonl.gz', [{ v: 'old' }]);
    function* values() {
      for (let i = 0; i < 50_000; i++) yield { i, pad: 'x'.repeat(40) };
      throw new Error('the source broke');
    }
    await expect(writeJsonl(store, 'fail/part.jsonl.gz', values())).rejects.toThrow('the source broke');
    expect(await readJsonlAll(store, 'fail/part.jsonl.gz')).toEqual([{ v: 'old' }]);
    expect(await listKeys(store, 'fail/')).toEqual(['fail/part.jsonl.gz']);
  });

  it('overwrites the same key with the new content', async () => {
    await store.put('same/key.json', '{"v":1}');
    await store.put('same/key.json', '{"v":2}');
    expect((await store.get('same/key.json')).toString()).toBe('{"v":2}');
    expect(await listKeys(store, 'same/')).toEqual(['same/key.json']);
  });

  it('deletes keys, ignoring ones already gone', async () => {
    await store.put('del/a', '1');
    await store.put('del/b', '2');
    await store.delete(['del/a', 'del/never-existed']);
    expect(await listKeys(store, 'del/')).toEqual(['del/b']);
  });

  it('reports a corrupt line with object key and line number, and can read past it', async () => {
    const body = gzipSync('{"id":"a"}\n{"id":\n\n[1,2]\n{"id":"b"}\n');
    await store.put('bad/part.jsonl.gz', body);
    await expect(readJsonlAll(store, 'bad/part.jsonl.gz')).rejects.toThrow(/bad\/part\.jsonl\.gz at line 2/);
    const errors: JsonlLineError[] = [];
    const good = [];
    for await (const r of readJsonl(store, 'bad/part.jsonl.gz', { onCorrupt: (e) => errors.push(e) }))
      good.push(r);
    expect(good).toEqual([{ id: 'a' }, { id: 'b' }]);
    expect(errors.map((e) => [e.key, e.line])).toEqual([
      ['bad/part.jsonl.gz', 2],
      ['bad/part.jsonl.gz', 4],
    ]);
  });

  it('rejects keys that could escape the root', async () => {
    await expect(store.put('../escape', 'x')).rejects.toThrow(/invalid object key/);
    await expect(store.put('/abs', 'x')).rejects.toThrow(/invalid object key/);
    await expect(store.get('a/../../b')).rejects.toThrow(/invalid object key/);
  });
});
