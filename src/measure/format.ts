/** Number formatting shared by the headline, the CLI summary and the HTML page. */

/** 0.1234 → "12.3%". */
export function percent(x: number | null, digits = 1): string {
  return x === null ? 'n/a' : `${(x * 100).toFixed(digits)}%`;
}

/** A rate difference in percentage points with its sign: 0.021 → "+2.1 pts". */
export function points(x: number | null, digits = 1): string {
  if (x === null) return 'n/a';
  const v = x * 100;
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)} pts`;
}

/** A relative change with its sign: 0.183 → "+18.3%". */
export function signedPercent(x: number | null, digits = 1): string {
  if (x === null) return 'n/a';
  const v = x * 100;
  return `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}%`;
}

export function count(x: number | null, digits = 0): string {
  if (x === null) return 'n/a';
  return x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function signedCount(x: number | null, digits = 0): string {
  if (x === null) return 'n/a';
  return `${x >= 0 ? '+' : '−'}${count(Math.abs(x), digits)}`;
}

export function money(x: number | null): string {
  return count(x, 2);
}

/** p-values as people read them: "p = 0.003", "p < 0.001". */
export function pValue(p: number | null): string {
  if (p === null) return 'p = n/a';
  if (p < 0.001) return 'p < 0.001';
  return `p = ${p.toFixed(3)}`;
}
