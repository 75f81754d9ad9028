import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type LineBytes, readLineBatches, readLines, writeGzipLineBatches } from '../../src/storage/jsonl.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';

async function allBatches(t: TestStore, key: string): Promise<LineBytes[][]> {
  const batches: LineBytes[][] = [];
  for await (const batch of readLineBatches(t.store, key)) batches.push(batch);
  return batches;
}

async function allLines(t: TestStore, key: string) {
  const out: { text: string; line: number }[] = [];
  for await (const line of readLines(t.store, key)) out.push(line);
  return out;
}

describe('lines as bytes, a batch at a time', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await createFsTestStore();
  });
  afterEach(async () => {
    await t.cleanup();
  });

  it('splits and numbers lines across chunks, with multi-byte characters and empty lines', async () => {
    // Long lines of multi-byte characters: chunk boundaries fall inside lines and inside characters.
    const lines = Array.from({ length: 3_000 }, (_, i) =>
      i % 97 === 0 ? '' : JSON.stringify({ i, s: 'é😀ü'.repeat(i % 300) }),
    );
    // No newline after the last line: it still counts.
    await t.store.put('x/a.jsonl.gz', gzipSync(Buffer.from(lines.join('\n'))));
    const batches = await allBatches(t, 'x/a.jsonl.gz');
    expect(batches.length).toBeGreaterThan(1);
    // Split independently of the readers: every non-empty line, numbered with the empty ones counted.
    const expected = lines.map((text, i) => ({ text, line: i + 1 })).filter((l) => l.text !== '');
    const fromBytes = batches.flat().map(({ bytes, line }) => ({ text: bytes.toString('utf8'), line }));
    expect(fromBytes).toEqual(expected);
    expect(await allLines(t, 'x/a.jsonl.gz')).toEqual(expected);
  });

  it('fails on a truncated gzip stream, naming the object and the line where it breaks', async () => {
    const text = Array.from({ length: 50_000 }, (_, i) =>
      JSON.stringify({ i, pad: 'x'.repeat(i % 50) }),
    ).join('\n');
    const whole = gzipSync(Buffer.from(text));
    await t.store.put('x/cut.jsonl.gz', whole.subarray(0, Math.floor(whole.length / 2)));
    // Both readers: the snapshot merge and the JavaScript readers of raw parts must not take the
    // lines before the cut for the whole object.
    const broken =
      /corrupt JSON line in x\/cut\.jsonl\.gz at line \d+: unreadable gzip data \(unexpected end of file\)/;
    await expect(allBatches(t, 'x/cut.jsonl.gz')).rejects.toThrow(broken);
    await expect(allLines(t, 'x/cut.jsonl.gz')).rejects.toThrow(broken);
  });

  it('writes text lines and passed-through bytes in order, as one gzip JSON Lines object', async () => {
    await t.store.put('x/in.jsonl.gz', gzipSync(Buffer.from('{"a":"é"}\n{"b":2}\n{"c":3}\n')));
    const [read] = await allBatches(t, 'x/in.jsonl.gz');
    const written = await writeGzipLineBatches(t.store, 'x/out.jsonl.gz', [
      ['{"first":true}', read![0]!.bytes],
      [],
      [read![1]!.bytes, '{"between":"ü"}', read![2]!.bytes],
      Array.from({ length: 5_000 }, (_, i) => `{"n":${i}}`),
    ]);
    expect(written).toBe(5_005);
    const out = (await allLines(t, 'x/out.jsonl.gz')).map((l) => l.text);
    expect(out.slice(0, 6)).toEqual([
      '{"first":true}',
      '{"a":"é"}',
      '{"b":2}',
      '{"between":"ü"}',
      '{"c":3}',
      '{"n":0}',
    ]);
    expect(out.at(-1)).toBe('{"n":4999}');
  });
});
