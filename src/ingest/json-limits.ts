/**
 * Limits on the shape of ingest bodies, checked once per request after parsing and before any
 * mapping. Records are copied, hashed and serialized recursively further on (`JSON.stringify` of a
 * properties bag, a quarantine line, an identify digest); a body nested thousands of levels deep
 * would overflow the stack there. A few kilobytes of `[[[[…` are enough, far below the body limit,
 * so the depth is bounded here, where the answer can still be a clear 400.
 */

/** Deepest nesting of objects and arrays an ingest body may have (the body itself is level 1). */
export const MAX_JSON_DEPTH = 64;

/**
 * `true` when `value` nests objects / arrays deeper than `max` levels. Iterative, so it cannot
 * overflow the stack itself, and it stops at the first branch that is too deep.
 */
export function exceedsJsonDepth(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: [object, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (depth > max) return true;
    const children = Array.isArray(node) ? node : Object.values(node);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Own-property assignment that also works for a key named `__proto__` (which `o[k] = v` would not). */
export function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}
