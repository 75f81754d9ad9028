import type { Redis } from 'ioredis';

/**
 * The micro-batches of the real-time path, in Redis beside the queues. Per destination × audience ×
 * operation:
 * - `pending`: a sorted set of customer ids, scored by when their first signal reached ingest
 *   (`ZADD NX`: later duplicates of the same person collapse into the first);
 * - `scheduled`: set while a flush job is queued, so a burst queues one flush, not one per signal;
 * - `inflight`: the ids a flush took, under the run id it sends them with. A flush killed half-way
 *   finds them there and resumes the same run (the sync engine resends at most the batch that was
 *   in flight), so nothing is lost and a removal is sent at most twice.
 * Taking the pending ids, clearing `scheduled` and recording `inflight` is one Lua script: a signal
 * that arrives after it sees no `scheduled` flag and queues the next flush.
 */
export type RealtimeOp = 'add' | 'remove';

export interface BatchKeys {
  pending: string;
  scheduled: string;
  inflight: string;
  inflightRun: string;
}

export function batchKeys(
  prefix: string,
  destination: string,
  audienceId: string,
  op: RealtimeOp,
): BatchKeys {
  const base = `${prefix}:rt:${destination}:${audienceId}:${op}`;
  return {
    pending: `${base}:pending`,
    scheduled: `${base}:scheduled`,
    inflight: `${base}:inflight`,
    inflightRun: `${base}:inflight-run`,
  };
}

/** The batch a flush sends: ids with the time their first signal reached ingest (ms). */
export interface ClaimedBatch {
  runId: string;
  people: { customerId: string; receivedAtMs: number }[];
  /** True when the batch was taken by an earlier flush that did not finish. */
  resumed: boolean;
}

// KEYS: pending, scheduled, inflight, inflightRun. ARGV: run id, max ids.
// An unfinished batch wins; otherwise up to max pending ids move to inflight under the run id.
const CLAIM = `
local run = redis.call('GET', KEYS[4])
if run then
  return {run, '1', redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')}
end
redis.call('DEL', KEYS[2])
local taken = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1, 'WITHSCORES')
if #taken == 0 then return {'', '0', {}} end
for i = 1, #taken, 2 do
  redis.call('ZADD', KEYS[3], taken[i + 1], taken[i])
  redis.call('ZREM', KEYS[1], taken[i])
end
redis.call('SET', KEYS[4], ARGV[1])
return {ARGV[1], '0', taken}
`;

type ClaimCommand = (this: Redis, numKeys: number, ...args: string[]) => Promise<[string, string, string[]]>;

function define(redis: Redis): void {
  if (!('realtimeClaim' in redis)) redis.defineCommand('realtimeClaim', { lua: CLAIM });
}

/**
 * Adds people to a micro-batch. Returns true when this call must queue the flush (no flush was
 * scheduled), false when one is already on its way.
 */
export async function addPending(
  redis: Redis,
  keys: BatchKeys,
  people: readonly { customerId: string; receivedAtMs: number }[],
  scheduleTtlMs: number,
): Promise<boolean> {
  const multi = redis.multi();
  for (const p of people) multi.zadd(keys.pending, 'NX', p.receivedAtMs, p.customerId);
  multi.set(keys.scheduled, '1', 'PX', scheduleTtlMs, 'NX');
  const results = (await multi.exec()) ?? [];
  const last = results.at(-1);
  if (last?.[0]) throw last[0];
  return last?.[1] === 'OK';
}

/** Takes the next batch (or the unfinished one); undefined when there is nothing to send. */
export async function claimBatch(
  redis: Redis,
  keys: BatchKeys,
  runId: string,
  maxPeople: number,
): Promise<ClaimedBatch | undefined> {
  define(redis);
  const command = (redis as unknown as { realtimeClaim: ClaimCommand }).realtimeClaim;
  const [run, resumed, flat] = await command.call(
    redis,
    4,
    keys.pending,
    keys.scheduled,
    keys.inflight,
    keys.inflightRun,
    runId,
    String(maxPeople),
  );
  if (!run) return undefined;
  const people: ClaimedBatch['people'] = [];
  for (let i = 0; i < flat.length; i += 2)
    people.push({ customerId: flat[i]!, receivedAtMs: Number(flat[i + 1]) });
  return { runId: run, people, resumed: resumed === '1' };
}

/** The batch reached the platform (or was settled): forget it. */
export async function finishBatch(redis: Redis, keys: BatchKeys): Promise<void> {
  await redis.del(keys.inflight, keys.inflightRun);
}
