import { describe, expect, it } from 'vitest';
import { DUPLICATE, EARLIER_DUPLICATE, IdSet, INSERTED } from '../../src/audiences/id-set.js';

describe('IdSet', () => {
  it('tells new ids, duplicates and duplicates received earlier apart, across growth', () => {
    const set = new IdSet(16);
    for (let i = 0; i < 10_000; i++) expect(set.insert(`id-${i}`, 1_000 + i)).toBe(INSERTED);
    expect(set.size).toBe(10_000);
    for (let i = 0; i < 10_000; i += 7) expect(set.insert(`id-${i}`, 5_000_000)).toBe(DUPLICATE);
    // Received before the copy that was counted: reported once, then that time is the earliest.
    expect(set.insert('id-42', 500)).toBe(EARLIER_DUPLICATE);
    expect(set.insert('id-42', 600)).toBe(DUPLICATE);
    expect(set.insert('id-42', Number.POSITIVE_INFINITY)).toBe(DUPLICATE);
    expect(set.insert('id-10000', 0)).toBe(INSERTED);
    expect(set.size).toBe(10_001);
  });
});
