import { describe, expect, it } from 'vitest';
import { createFsTestStore } from '../helpers/stores.js';

/**
 * Listing the local store while another writer deletes under the same prefix (a sync removing its
 * plan objects while the console lists its runs) must not fail: an object deleted during the walk
 * is simply not listed, as on S3.
 */
describe('FsObjectStore list under concurrent deletes', () => {
  it('lists without error while the objects it walks are being deleted', async () => {
    const { store, cleanup } = await createFsTestStore();
    try {
      for (let round = 0; round < 5; round++) {
        const keys = Array.from(
          { length: 400 },
          (_, i) => `runs/r${round}/obj-${String(i).padStart(4, '0')}.json`,
        );
        await Promise.all(keys.map((k) => store.put(k, Buffer.from('{}'))));
        const deleting = (async () => {
          for (let i = 0; i < keys.length; i += 20) await store.delete(keys.slice(i, i + 20));
        })();
        const listed: string[] = [];
        for (let pass = 0; pass < 10; pass++) {
          for await (const info of store.list(`runs/r${round}/`)) listed.push(info.key);
        }
        await deleting;
        for (const key of listed) expect(keys).toContain(key);
      }
    } finally {
      await cleanup();
    }
  });
});
