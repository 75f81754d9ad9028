/**
 * Three independent 32-bit hashes of a string (murmur-style mixing), written to `out[0..2]`:
 * compact stand-ins for ids and identifiers in typed-array hash tables. Two ids share all 96 bits
 * with a chance of about 2⁻⁹⁶ per pair; tables that use only the first 64 say so.
 */
export function fingerprint96(key: string, out: Int32Array): void {
  let a = 0x811c9dc5 ^ key.length;
  let b = 0x9747b28c;
  let c = 0x2545f491;
  for (let i = 0; i < key.length; i++) {
    const ch = key.charCodeAt(i);
    a = Math.imul(a ^ ch, 0x01000193);
    b = Math.imul(b ^ ch, 0x5bd1e995);
    b ^= b >>> 13;
    c = Math.imul(c + ch, 0x9e3779b1);
    c ^= c >>> 15;
  }
  out[0] = avalanche(a, 0x85ebca6b, 0xc2b2ae35);
  out[1] = avalanche(b, 0x7feb352d, 0x846ca68b);
  out[2] = avalanche(c, 0x27d4eb2f, 0x165667b1);
}

function avalanche(h: number, m1: number, m2: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, m1);
  h ^= h >>> 13;
  h = Math.imul(h, m2);
  h ^= h >>> 16;
  return h | 0;
}
