/**
 * Serializes calls that share a key within this process (find-or-create of one audience name),
 * so two batches racing in one worker never create two audiences. Across processes the sync
 * engine holds a Redis lock per audience × destination; connectors also re-check after creating.
 */
const inFlight = new Map<string, Promise<unknown>>();

export async function serialized<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const previous = inFlight.get(key) ?? Promise.resolve();
  const run = previous.then(fn, fn);
  const settled = run.catch(() => undefined);
  inFlight.set(key, settled);
  try {
    return await run;
  } finally {
    if (inFlight.get(key) === settled) inFlight.delete(key);
  }
}

/** Platform ids are numeric strings of varying length: compare as numbers without losing precision. */
export function compareNumericIds(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}
