import type { Redis } from 'ioredis';
import { DATASETS, type Dataset } from '../contract/records.js';
import type { BufferItem } from './items.js';
import { DEFAULT_REDIS_PREFIX, type IngestKeys, ingestKeys } from './redis-keys.js';

/**
 * The durable buffer between the HTTP answer and the object store: one Redis stream per dataset.
 *
 * One script call per request claims the dedupe keys (`SET NX EX`) and appends the accepted records
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
    super(`ingest buffer unavailable: ${redisReason(cause)}`, { cause });
  }
}

const DATASET_INDEX: Readonly<Record<Dataset, number>> = { events: 1, messages: 2, people: 3 };

// KEYS: 1..3 streams (events, messages, people), 4 pending hash, 5.. dedupe keys in item order.
// ARGV: 1 ttl seconds, 2 item count, then per item: has-dedupe-key (0|1), record count,
//       and per record: dataset index, JSON text.
// Each stream entry holds the JSON array of records appended by one call: field `n` is the count.
const ADD_SCRIPT = `
local ttl = ARGV[1]
local nitems = tonumber(ARGV[2])
local names = {'events', 'messages', 'people'}
local batches = {{}, {}, {}}
local statuses = {}
local a = 3
local k = 5
for i = 1, nitems do
  local hasKey = ARGV[a]
  local n = tonumber(ARGV[a + 1])
  a = a + 2
  local fresh = true
  if hasKey == '1' then
    fresh = redis.call('SET', KEYS[k], '1', 'NX', 'EX', ttl) ~= false
    k = k + 1
  end
  if fresh then
    for j = 1, n do
      local b = batches[tonumber(ARGV[a])]
      b[#b + 1] = ARGV[a + 1]
      a = a + 2
    end
    statuses[i] = 1
  else
    a = a + 2 * n
    statuses[i] = 0
  end
end
local pending = {}
for d = 1, 3 do
  local b = batches[d]
  if #b > 0 then
    redis.call('XADD', KEYS[d], '*', 'n', #b, 'r', '[' .. table.concat(b, ',') .. ']')
    pending[d] = redis.call('HINCRBY', KEYS[4], names[d], #b)
  else
    pending[d] = -1
  end
end
return {statuses, pending}
`;

type AddCommand = (numKeys: number, ...args: (string | number)[]) => Promise<[number[], number[]]>;

export interface IngestBufferOptions {
  redis: Redis;
  prefix?: string;
  /** How long an accepted id is remembered (INGEST_DEDUPE_HOURS). */
  dedupeHours: number;
}

export class IngestBuffer {
  readonly keys: IngestKeys;
  private readonly redis: Redis;
  private readonly ttlSeconds: number;

  constructor(options: IngestBufferOptions) {
    this.redis = options.redis;
    this.keys = ingestKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
    this.ttlSeconds = Math.max(1, Math.round(options.dedupeHours * 3600));
    // defineCommand sends EVALSHA and falls back to EVAL after a Redis restart forgot the script.
    if (!('ingestAdd' in this.redis)) this.redis.defineCommand('ingestAdd', { lua: ADD_SCRIPT });
  }

  /** Buffers the items; items whose dedupe id was seen within the window are `duplicate`. */
  async add(items: readonly BufferItem[]): Promise<AddResult> {
    if (items.length === 0) return { statuses: [], pending: {}, added: {} };
    const keys = [...DATASETS.map((d) => this.keys.stream(d)), this.keys.pending];
    const args: (string | number)[] = [this.ttlSeconds, items.length];
    for (const item of items) {
      if (item.dedupeId !== undefined) keys.push(this.keys.seen(item.dedupeId));
      args.push(item.dedupeId !== undefined ? '1' : '0', item.records.length);
      for (const r of item.records) args.push(DATASET_INDEX[r.dataset], JSON.stringify(r.record));
    }
    let reply: [number[], number[]];
    try {
      const command = (this.redis as unknown as { ingestAdd: AddCommand }).ingestAdd;
      reply = await command.call(this.redis, keys.length, ...keys, ...args);
    } catch (error) {
      throw new BufferUnavailableError(error);
    }
    const [flags, counts] = reply;
    const statuses = flags.map((f): BufferStatus => (f === 1 ? 'accepted' : 'duplicate'));
    const pending: AddResult['pending'] = {};
    const added: AddResult['added'] = {};
    DATASETS.forEach((dataset, i) => {
      const count = counts[i] ?? -1;
      if (count >= 0) pending[dataset] = count;
    });
    items.forEach((item, i) => {
      if (statuses[i] !== 'accepted') return;
      for (const r of item.records) added[r.dataset] = (added[r.dataset] ?? 0) + 1;
    });
    return { statuses, pending, added };
  }

  /** Records waiting for the export, by dataset. */
  async pending(): Promise<Record<Dataset, number>> {
    const raw = await this.redis.hgetall(this.keys.pending);
    return Object.fromEntries(DATASETS.map((d) => [d, Number(raw[d] ?? 0)])) as Record<Dataset, number>;
  }
}

/** A short reason for logs and errors: the command's arguments (personal data) are never included. */
export function redisReason(error: unknown): string {
  if (!(error instanceof Error)) return 'unknown error';
  const message = error.message.split('\n')[0] ?? '';
  if (/ECONNREFUSED|connect/i.test(message)) return 'cannot connect to Redis';
  if (/enableOfflineQueue|writeable|closed/i.test(message)) return 'Redis connection is not open';
  if (/timed? ?out/i.test(message)) return 'Redis command timed out';
  if (/^OOM/.test(message)) return 'Redis is out of memory';
  return (message.match(/^[A-Z]+\b/)?.[0] ?? 'Redis error').slice(0, 40);
}
