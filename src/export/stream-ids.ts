/** Redis stream ids (`<ms>-<seq>`): the part names derive from them. */

function parseStreamId(id: string): { ms: bigint; seq: bigint } {
  const m = /^(\d+)-(\d+)$/.exec(id);
  if (!m) throw new Error(`not a stream id: ${JSON.stringify(id)}`);
  return { ms: BigInt(m[1]!), seq: BigInt(m[2]!) };
}

/** The smallest id after `id`: `XTRIM MINID` with it removes `id` and everything before. */
export function nextStreamId(id: string): string {
  const { ms, seq } = parseStreamId(id);
  return `${ms}-${seq + 1n}`;
}

export function compareStreamIds(a: string, b: string): number {
  const x = parseStreamId(a);
  const y = parseStreamId(b);
  if (x.ms !== y.ms) return x.ms < y.ms ? -1 : 1;
  return x.seq === y.seq ? 0 : x.seq < y.seq ? -1 : 1;
}
