import type { Redis } from 'ioredis';
import { DATASETS, type Dataset } from '../contract/records.js';
import type { BufferItem } from './items.js';
import { DEFAULT_REDIS_PREFIX, type IngestKeys, ingestKeys } from './redis-keys.js';

/**
 * The durable buffer between the HTTP answer and the object store: one Redis stream per dataset.
 *
 * One script call per request claims the dedupe keys (`SET NX EX`) and appends the accepted lines
 * as one compact stream entry per dataset. Because it is one script, it is atomic: either the
 * records are in the stream and their ids are marked seen, or neither happened — a failed call
 * claims nothing, and the sender's retry is not mistaken for a duplicate.
 */

export type BufferStatus = 'accepted' | 'duplicate';

export interface AddResult {
  statuses: BufferStatus[];
  /** Records buffered per dataset after this call (only datasets this call wrote to). */
  pending: Partial<Record<Dataset, number>>;
  /** Records this call appended per dataset. */
  added: Partial<Record<Dataset, number>>;
}

/** Redis could not take the records (down, timing out, out of memory): answer 503, claim nothing. */
export class BufferUnavailableError extends Error {
  override readonly name = 'BufferUnavailableError';
  constructor(cause: unknown) {
    // The cause is not kept: Redis errors carry the command's arguments, which are records.
    super(`ingest buffer unavailable: ${redisReason(cause)}`);
  }
}

const DATASET_INDEX: Readonly<Record<Dataset, number>> = { events: 0, messages: 1, people: 2 };

/*
 * Stream entry format, version 1: `v` = 1, `n` = number of lines, `r` = raw lines and `q` =
 * quarantine lines, each line `<YYYY-MM-DD>\t<json>` and lines joined by `\n` (JSON text never
 * contains a raw newline). The day prefix lets the export route a line without parsing it.
 */
// KEYS: 1..3 streams (events, messages, people), 4 pending hash, 5.. dedupe keys.
// ARGV: 1 ttl seconds; 2..7 raw and quarantine text of events, messages, people; 8..10 line counts.
// Claims every dedupe key; if one was already taken, un-claims the ones this call took and returns
// {0, positions of the taken keys} so the caller drops those items and calls again. Otherwise appends
// one entry per dataset and returns {1, pending counts}. Either way the call is all or nothing.
const ADD_SCRIPT = `
local claimed = {}
local taken = {}
for k = 5, #KEYS do
  if redis.call('SET', KEYS[k], '1', 'NX', 'EX', ARGV[1]) then
    claimed[#claimed + 1] = KEYS[k]
  else
    taken[#taken + 1] = k - 4
  end
end
if #taken > 0 then
  for i = 1, #claimed do redis.call('DEL', claimed[i]) end
  return {0, taken}
end
local names = {'events', 'messages', 'people'}
local pending = {}
for d = 1, 3 do
  local count = tonumber(ARGV[7 + d])
  if count > 0 then
    local q = ARGV[2 * d + 1]
    if q ~= '' then
      redis.call('XADD', KEYS[d], '*', 'v', '1', 'n', count, 'r', ARGV[2 * d], 'q', q)
    else
      redis.call('XADD', KEYS[d], '*', 'v', '1', 'n', count, 'r', ARGV[2 * d])
    end
    pending[d] = redis.call('HINCRBY', KEYS[4], names[d], count)
  else
    pending[d] = -1
  end
end
return {1, pending}
`;

type AddCommand = (numKeys: number, ...args: (string | number)[]) => Promise<[number, number[]]>;

export interface IngestBufferOptions {
  redis: Redis;
  prefix?: string;
  /** How long an accepted id is remembered (INGEST_DEDUPE_HOURS). */
  dedupeHours: number;
  /**
   * Called once the items are buffered, with their statuses (the real-time triggers). It must not
   * throw: the items are stored, and the caller's answer says so.
   */
  afterAdd?: (items: readonly BufferItem[], statuses: readonly BufferStatus[]) => Promise<void>;
}

export class IngestBuffer {
  readonly keys: IngestKeys;
  private readonly redis: Redis;
  private readonly ttlSeconds: number;
  private readonly afterAdd: IngestBufferOptions['afterAdd'];

  constructor(options: IngestBufferOptions) {
    this.redis = options.redis;
    this.afterAdd = options.afterAdd;
    this.keys = ingestKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.ttlSeconds = Math.max(1, Math.round(options.dedupeHours * 3600));
    // defineCommand sends EVALSHA and falls back to EVAL after a Redis restart forgot the script.
    if (!('ingestAdd' in this.redis)) this.redis.defineCommand('ingestAdd', { lua: ADD_SCRIPT });
  }

  /** Buffers the items; items whose dedupe id was seen within the window are `duplicate`. */
  async add(items: readonly BufferItem[]): Promise<AddResult> {
    const statuses: BufferStatus[] = items.map(() => 'accepted');
    if (items.length === 0) return { statuses, pending: {}, added: {} };
    // Usually one round: a second happens only when some ids were seen before (or twice in this call).
    for (;;) {
      const included: number[] = [];
      for (let i = 0; i < items.length; i++) if (statuses[i] === 'accepted') included.push(i);
      if (included.length === 0) return { statuses, pending: {}, added: {} };
      const call = this.buildCall(items, included);
      let reply: [number, number[]];
      try {
        const command = (this.redis as unknown as { ingestAdd: AddCommand }).ingestAdd;
        reply = await command.call(this.redis, call.keys.length, ...call.keys, ...call.args);
      } catch (error) {
        throw new BufferUnavailableError(error);
      }
      const [ok, values] = reply;
      if (ok === 0) {
        for (const position of values) statuses[call.keyed[position - 1]!] = 'duplicate';
        continue;
      }
      const pending: AddResult['pending'] = {};
      DATASETS.forEach((dataset, i) => {
        const count = values[i] ?? -1;
        if (count >= 0) pending[dataset] = count;
      });
      await this.afterAdd?.(items, statuses);
      return { statuses, pending, added: call.added };
    }
  }

  private buildCall(items: readonly BufferItem[], included: readonly number[]) {
    const keys = DATASETS.map((d) => this.keys.stream(d));
    keys.push(this.keys.pending);
    /** Item index of each dedupe key, in key order. */
    const keyed: number[] = [];
    const raw: string[][] = [[], [], []];
    const quarantine: string[][] = [[], [], []];
    const added: AddResult['added'] = {};
    for (const index of included) {
      const item = items[index]!;
      if (item.dedupeId !== undefined) {
        keys.push(this.keys.seen(item.dedupeId));
        keyed.push(index);
      }
      for (const line of item.lines) {
        const d = DATASET_INDEX[line.dataset];
        (line.kind === 'q' ? quarantine : raw)[d]!.push(`${line.day}\t${line.json}`);
        added[line.dataset] = (added[line.dataset] ?? 0) + 1;
      }
    }
    const args: (string | number)[] = [this.ttlSeconds];
    for (let d = 0; d < 3; d++) args.push(raw[d]!.join('\n'), quarantine[d]!.join('\n'));
    for (let d = 0; d < 3; d++) args.push(raw[d]!.length + quarantine[d]!.length);
    return { keys, args, keyed, added };
  }

  /** Records waiting for the export, by dataset. */
  async pending(): Promise<Record<Dataset, number>> {
    const raw = await this.redis.hgetall(this.keys.pending);
    return Object.fromEntries(DATASETS.map((d) => [d, Number(raw[d] ?? 0)])) as Record<Dataset, number>;
  }
}

/** A short reason for logs and errors: the command's arguments (personal data) are never included. */
function redisReason(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const message = error.message.split('\n')[0] ?? '';
  if (/ECONNREFUSED|connect/i.test(message)) return 'cannot connect to Redis';
  if (/enableOfflineQueue|writeable|closed/i.test(message)) return 'Redis connection is not open';
  if (/timed? ?out/i.test(message)) return 'Redis command timed out';
  if (/^OOM/.test(message)) return 'Redis is out of memory';
  return (message.match(/^[A-Z]+\b/)?.[0] ?? 'Redis error').slice(0, 40);
}

/**
 * The records of one dataset still in the buffer (accepted, not yet trimmed by the export), oldest
 * first, read a page of entries at a time; quarantined lines are left out. For readers that need
 * what arrived since the last export (a real-time addition looks up the newest identify here).
 */
export async function* bufferedRecords(
  redis: Redis,
  prefix: string,
  dataset: Dataset,
  pageSize = 200,
): AsyncGenerator<Record<string, unknown>> {
  const stream = ingestKeys(prefix).stream(dataset);
  let start = '-';
  for (;;) {
    const page = await redis.xrange(stream, start, '+', 'COUNT', pageSize);
    for (const [, fields] of page) {
      for (let i = 0; i < fields.length; i += 2) {
        if (fields[i] !== 'r') continue;
        for (const line of fields[i + 1]!.split('\n')) {
          const tab = line.indexOf('\t');
          if (tab === -1) continue;
          try {
            yield JSON.parse(line.slice(tab + 1)) as Record<string, unknown>;
          } catch {
            // Lines were validated at ingest; one that is not JSON is the export's to report.
          }
        }
      }
    }
    if (page.length < pageSize) return;
    start = `(${page.at(-1)![0]}`;
  }
}
