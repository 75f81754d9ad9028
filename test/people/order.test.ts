import { describe, expect, it } from 'vitest';
import { Engine, sqlString } from '../../src/engine/duckdb.js';
import { compareIds } from '../../src/people/snapshot.js';

describe('the order of snapshot lines', () => {
  it('is code point order, the SQL engine order the fold merges with, not UTF-16 order', async () => {
    // U+FF21 (fullwidth A) sorts after 😀 (U+1F600) in UTF-16 units, before it by code point.
    const ids = ['cus_b', '😀', 'Ａ', 'cus_a', 'é', 'cus_a😀', 'cus_aＡ', ''];
    const sorted = [...ids].sort(compareIds);
    expect(sorted).toEqual(['', 'cus_a', 'cus_aＡ', 'cus_a😀', 'cus_b', 'é', 'Ａ', '😀']);
    const engine = await Engine.open({ threads: 1 });
    try {
      const rows = await engine.all<{ id: string }>(
        `SELECT id FROM (VALUES ${ids.map((i) => `(${sqlString(i)})`).join(', ')}) t(id) ORDER BY id`,
      );
      expect(rows.map((r) => r.id)).toEqual(sorted);
    } finally {
      engine.close();
    }
  });
});
