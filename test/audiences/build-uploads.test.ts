import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type BuildProgress, buildAudiences } from '../../src/audiences/build.js';
import { parseAudienceSyncConfig } from '../../src/config-file.js';
import { keys } from '../../src/storage/keys.js';
import type { Body, ObjectStore, PutOptions } from '../../src/storage/object-store.js';
import { STORE_KINDS, type TestStore } from '../helpers/stores.js';
import { ev, memberIds, person, writePart } from './fixtures.js';

/**
 * The build uploads one audience's members, then writes its manifest, while the engine evaluates
 * the next audience. Manifests still come in build order, each after its members, and a failed
 * upload fails the build with no manifest for that audience or any after it.
 */

const D = '2026-03-10';
const config = parseAudienceSyncConfig(
  `version: 1
audiences:
  - id: buyers
    type: segment
    when: { event: order, within_days: 7 }
  - id: carts
    type: segment
    when: { event: cart, within_days: 7 }
    exclude: [buyers]
  - id: everyone
    type: segment
    when: { any: [{ event: order, within_days: 7 }, { event: cart, within_days: 7 }] }
`,
  'test.yaml',
  {},
).config;

/** `t.store`, with `put` of the keys `hold` names held until `hold` settles (and every put noted). */
function holdingStore(
  t: TestStore,
  hold: (key: string) => Promise<void> | undefined,
  puts: string[],
): ObjectStore {
  return Object.assign(Object.create(t.store) as ObjectStore, {
    async put(key: string, body: Body, options?: PutOptions) {
      await hold(key);
      await t.store.put(key, body, options);
      puts.push(key);
    },
  });
}

describe.each(STORE_KINDS)('uploads beside the next audience, on the $kind store', ({ create }) => {
  let t: TestStore;
  beforeEach(async () => {
    t = await create();
    await writePart(t.store, 'people', D, 'p', [
      person('a', '2026-03-01T00:00:00.000Z'),
      person('b', '2026-03-01T00:00:00.000Z'),
    ]);
    await writePart(t.store, 'events', D, 'e', [
      ev('1', 'a', 'order', '2026-03-10T10:00:00.000Z'),
      ev('2', 'a', 'cart', '2026-03-10T09:00:00.000Z'),
      ev('3', 'b', 'cart', '2026-03-10T11:00:00.000Z'),
    ]);
  });
  afterEach(async () => {
    await t.cleanup();
  });

  const members = (id: string) => memberIds(t.store, id, D);

  it("evaluates the next audience before an audience's upload ends; manifests in build order", async () => {
    // The upload of `buyers`' members waits until the build reports that it is evaluating `carts`
    // (at most 5 s: a build that waited for the upload first gets there only after it).
    let evaluatingCarts: () => void = () => undefined;
    const cartsStarted = new Promise<void>((resolve) => {
      evaluatingCarts = resolve;
    });
    let overlapped = false;
    const puts: string[] = [];
    const store = holdingStore(
      t,
      (key) =>
        key === keys.members('buyers', D)
          ? Promise.race([
              cartsStarted.then(() => true),
              new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000)),
            ]).then((first) => {
              overlapped = first;
            })
          : undefined,
      puts,
    );
    const onProgress = (p: BuildProgress) => {
      if (p.phase === 'audience' && p.audience === 'carts') evaluatingCarts();
    };
    const result = await buildAudiences({ store, config, day: D, onProgress, engine: { threads: 1 } });

    expect(overlapped).toBe(true);
    expect(result.audiences.map((m) => m.audience)).toEqual(['buyers', 'carts', 'everyone']);
    expect(result.audiences.map((m) => m.counts.selected)).toEqual([1, 1, 2]);
    // Each audience's members, then its manifest; audience after audience.
    const written = puts.filter((k) => k.startsWith('audiences/'));
    expect(written).toEqual(
      ['buyers', 'carts', 'everyone'].flatMap((id) => [keys.members(id, D), keys.manifest(id, D)]),
    );
    expect(await members('buyers')).toEqual(['a']);
    expect(await members('carts')).toEqual(['b']);
    expect(await members('everyone')).toEqual(['a', 'b']);
  });

  it('a failed upload fails the build: no manifest for that audience nor any after it', async () => {
    const puts: string[] = [];
    const store = holdingStore(
      t,
      (key) =>
        key === keys.members('carts', D) ? Promise.reject(new Error('the store refused carts')) : undefined,
      puts,
    );
    await expect(buildAudiences({ store, config, day: D, engine: { threads: 1 } })).rejects.toThrow(
      'the store refused carts',
    );
    expect(await t.store.exists(keys.manifest('buyers', D))).toBe(true);
    expect(await t.store.exists(keys.manifest('carts', D))).toBe(false);
    expect(await t.store.exists(keys.members('everyone', D))).toBe(false);
    expect(await t.store.exists(keys.manifest('everyone', D))).toBe(false);
  });
});
