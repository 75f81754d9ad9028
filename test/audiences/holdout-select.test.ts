import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { holdoutU, isHoldout } from '../../src/audiences/holdout.js';
import { compareRanked, topFractionCount } from '../../src/audiences/select.js';

describe('holdoutU', () => {
  it('matches values computed by hand (sha256 hex, first 13 digits, / 2^52)', () => {
    // Computed independently with Python's hashlib.
    expect(holdoutU('cart-recovery-2026q4', 'cus_0000001')).toBe(3406353417314760 / 2 ** 52);
    expect(holdoutU('cart-recovery-2026q4', 'cus_0000001')).toBe(0.7563623987826862);
    expect(holdoutU('cart-recovery-2026q4', 'cus_0000042')).toBe(0.3935140908667816);
    expect(holdoutU('high_intent_abandoners', 'c1')).toBe(0.1757003558515462);
    expect(holdoutU('s', '')).toBe(0.022838430725659276);
  });

  it('agrees with a BigInt reimplementation on arbitrary inputs', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), (salt, id) => {
        const hex = createHash('sha256').update(`${salt}:${id}`, 'utf8').digest('hex');
        const expected = Number(BigInt(`0x${hex.slice(0, 13)}`)) / 2 ** 52;
        expect(holdoutU(salt, id)).toBe(expected);
      }),
    );
  });

  it('is strict: holdout iff u < fraction', () => {
    const u = holdoutU('cart-recovery-2026q4', 'cus_0000042');
    expect(isHoldout('cart-recovery-2026q4', 'cus_0000042', u)).toBe(false);
    expect(isHoldout('cart-recovery-2026q4', 'cus_0000042', u + 1e-12)).toBe(true);
    expect(isHoldout('cart-recovery-2026q4', 'cus_0000042', 0)).toBe(false);
    expect(isHoldout('cart-recovery-2026q4', 'cus_0000042', 1)).toBe(true);
  });

  it('holds out within ±1% of the fraction on 100,000 ids', () => {
    for (const fraction of [0.1, 0.25, 0.5]) {
      let held = 0;
      for (let i = 0; i < 100_000; i++) if (isHoldout('lift-test', `cus_${i}`, fraction)) held += 1;
      expect(Math.abs(held / 100_000 - fraction)).toBeLessThan(0.01);
    }
  });

  it('is sticky and shared: the same salt gives the same group whatever the audience', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), fc.double({ min: 0, max: 1, noNaN: true }), (id, fraction) => {
        const first = isHoldout('shared-salt', id, fraction);
        expect(isHoldout('shared-salt', id, fraction)).toBe(first);
        // A larger fraction only ever adds people to the holdout (nested control groups).
        if (first) expect(isHoldout('shared-salt', id, Math.min(1, fraction + 0.1))).toBe(true);
      }),
    );
  });
});

describe('topFractionCount', () => {
  it('is ceil(round(f × 10^6) × eligible / 10^6) in integers', () => {
    expect(topFractionCount(0.07, 100)).toBe(7); // 0.07 × 100 = 7.000000000000001 in doubles
    expect(topFractionCount(0.1, 1000)).toBe(100);
    expect(topFractionCount(0.1, 1001)).toBe(101);
    expect(topFractionCount(0.1, 0)).toBe(0);
    expect(topFractionCount(0.1, 1)).toBe(1);
    expect(topFractionCount(0.1, 9)).toBe(1);
    expect(topFractionCount(0.1, 11)).toBe(2);
    expect(topFractionCount(1, 5)).toBe(5);
    expect(topFractionCount(0.0000001, 5)).toBe(0); // rounds to 0 ppm
    expect(topFractionCount(0.333333, 3)).toBe(1);
    expect(topFractionCount(0.3333334, 3)).toBe(1); // 333333 ppm
    expect(topFractionCount(0.3333335, 3)).toBe(2); // 333334 ppm × 3 = 1000002 → ceil 2
  });

  it('rejects fractions outside (0, 1] and non-counts', () => {
    expect(() => topFractionCount(0, 10)).toThrow(RangeError);
    expect(() => topFractionCount(1.5, 10)).toThrow(RangeError);
    expect(() => topFractionCount(0.5, -1)).toThrow(RangeError);
    expect(() => topFractionCount(0.5, 1.5)).toThrow(RangeError);
  });

  it('property: the smallest k with k × 10^6 ≥ ppm × eligible', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 0, max: 10_000_000 }),
        (ppm, eligible) => {
          const k = topFractionCount(ppm / 1_000_000, eligible);
          const need = BigInt(ppm) * BigInt(eligible);
          expect(BigInt(k) * 1_000_000n >= need).toBe(true);
          if (k > 0) expect(BigInt(k - 1) * 1_000_000n < need).toBe(true);
          expect(k).toBeLessThanOrEqual(eligible);
          if (eligible > 0) expect(k).toBeGreaterThanOrEqual(1);
        },
      ),
    );
  });
});

describe('compareRanked', () => {
  it('orders by score descending, then customer_id ascending in JavaScript string order', () => {
    const rows = [
      { s: 1, id: 'b' },
      { s: 2, id: 'z' },
      { s: 1, id: 'B' },
      { s: 1, id: 'a' },
      { s: 1, id: 'a10' },
      { s: 1, id: 'a9' },
    ];
    rows.sort((x, y) => compareRanked(x.s, x.id, y.s, y.id));
    expect(rows.map((r) => r.id)).toEqual(['z', 'B', 'a', 'a10', 'a9', 'b']);
  });
});
