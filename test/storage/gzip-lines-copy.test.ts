import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { writeGzipLines } from '../../src/storage/jsonl.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

describe('writeGzipLines with a local uncompressed copy', () => {
  let t: TestStore;
  let dir: string;
  beforeEach(async () => {
    t = await createFsTestStore();
    dir = await mkdtemp(join(tmpdir(), 'gzip-lines-copy-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
    await t.cleanup();
  });

  it('writes the same lines to the object (gzip) and to the copy, across many chunks', async () => {
    const lines = Array.from({ length: 20_000 }, (_, i) => JSON.stringify({ i, pad: 'é'.repeat(i % 7) }));
    const copy = join(dir, 'copy.jsonl');
    expect(await writeGzipLines(t.store, 'x/a.jsonl.gz', lines, { copyTo: copy })).toBe(20_000);
    const expected = `${lines.join('\n')}\n`;
    expect(await readFile(copy, 'utf8')).toBe(expected);
    expect(gunzipSync(await t.store.get('x/a.jsonl.gz')).toString('utf8')).toBe(expected);
  });

  it('fails, and writes no object, when the copy cannot be written', async () => {
    const copy = join(dir, 'no-such-folder', 'copy.jsonl');
    await expect(writeGzipLines(t.store, 'x/b.jsonl.gz', ['{"a":1}'], { copyTo: copy })).rejects.toThrow(
      /ENOENT/,
    );
    // Not only at the moment the write failed: an upload left running would store it a little later.
    await new Promise((r) => setTimeout(r, 300));
    expect(await t.store.exists('x/b.jsonl.gz')).toBe(false);
  });
});
