import type { Redis } from 'ioredis';
import { DATASETS, type Dataset } from '../contract/records.js';
import { DEFAULT_REDIS_PREFIX, type IngestKeys, ingestKeys } from '../ingest/redis-keys.js';
import type { Logger } from '../log.js';
import { SuppressionCache, type SuppressionList } from '../privacy/suppression.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type PartCounts, PartSet } from './part-set.js';
import { acquireLease } from './redis-lock.js';
import { compareStreamIds, nextStreamId } from './stream-ids.js';

/**
 * The export: drains a dataset's Redis stream into gzip JSONL parts under `raw/<dataset>/dt=…/`
 * (and `quarantine/<dataset>/dt=…/`). Lines were checked against the data contract at ingest and
 * carry their day, so a chunk is routed to its parts without re-parsing the records.
 *
 * Crash safety comes from three rules:
 *  1. Before anything is written, the chunk's stream range (`first last`) is saved in Redis. A re-run
 *     finds it and re-reads exactly that range, even if new entries arrived meanwhile.
 *  2. Part names derive from that range, so the re-run overwrites the same objects.
 *  3. The stream is trimmed only after every part of the chunk was written, by a script that also
 *     clears the saved range — so trimming happens once, and never before the write.
 * A crash after the read, after the write or before the trim therefore neither loses nor doubles
 * a record.
 *
 * Records of erased people still in the stream (buffered before the erasure) are dropped while the
 * chunk is routed, with the suppression list read after the chunk was read; they are counted as
 * `suppressed`, never logged. A re-run of a chunk applies the list as it is then, so it can only
 * drop more.
 */

export interface DrainHooks {
  /** Test seams: interrupting at these points must not lose or duplicate anything. */
  afterRead?: (chunk: ChunkRange) => void | Promise<void>;
  afterWrite?: (chunk: ChunkRange) => void | Promise<void>;
  beforeTrim?: (chunk: ChunkRange) => void | Promise<void>;
}

export interface ChunkRange {
  dataset: Dataset;
  first: string;
  last: string;
  entries: number;
  /** True when the range was left behind by an interrupted export. */
  resumed: boolean;
}

export interface DrainOptions {
  redis: Redis;
  store: ObjectStore;
  /** Redis key prefix shared with the ingest buffer. */
  prefix?: string;
  datasets?: readonly Dataset[];
  /** Records per chunk (per part file at most); bounds memory. */
  chunkRecords?: number;
  lockTtlMs?: number;
  hooks?: DrainHooks;
  logger?: Logger;
  /**
   * The erased people, asked for once per chunk, after the chunk was read: their records are
   * dropped, not exported (counted as `suppressed`). Defaults to reading the list from `store` for
   * every chunk, so an erasure whose suppression entry was written before a chunk was read is
   * always applied to it.
   */
  suppression?: { get(): Promise<SuppressionList> };
}

export interface DatasetDrainResult extends PartCounts {
  dataset: Dataset;
  status: 'drained' | 'locked';
  chunks: number;
  /** Every object written: raw parts and quarantine parts. */
  keys: string[];
}

const DEFAULT_CHUNK_RECORDS = 50_000;
const READ_PAGE = 200;

export async function drainBuffers(options: DrainOptions): Promise<DatasetDrainResult[]> {
  const datasets = options.datasets ?? DATASETS;
  // One fresh-per-chunk list for all datasets (concurrent reads of it are shared).
  const suppression = options.suppression ?? new SuppressionCache(options.store, 0);
  // Datasets are independent streams: draining them together overlaps Redis reads, routing and
  // compression on the thread pool.
  return Promise.all(datasets.map((dataset) => drainDataset(dataset, { ...options, suppression })));
}

export async function drainDataset(dataset: Dataset, options: DrainOptions): Promise<DatasetDrainResult> {
  const { redis, store } = options;
  const k = ingestKeys(options.prefix ?? DEFAULT_REDIS_PREFIX);
  const result: DatasetDrainResult = {
    dataset,
    status: 'drained',
    chunks: 0,
    keys: [],
    written: 0,
    quarantined: 0,
    suppressed: 0,
  };
  const suppression = options.suppression ?? new SuppressionCache(store, 0);
  const lease = await acquireLease(redis, k.exportLock(dataset), options.lockTtlMs ?? 120_000);
  if (!lease) {
    result.status = 'locked';
    return result;
  }
  try {
    // Entries that arrive while we drain wait for the next run: a busy stream must not keep one
    // export going forever.
    const stopAt = await lastEntryId(redis, k.stream(dataset));
    const maxRecords = options.chunkRecords ?? DEFAULT_CHUNK_RECORDS;
    for (;;) {
      const chunk = await readChunk(redis, k, dataset, stopAt, maxRecords);
      if (!chunk) break;
      const range: ChunkRange = {
        dataset,
        first: chunk.first,
        last: chunk.last,
        entries: chunk.entries.length,
        resumed: chunk.resumed,
      };
      await options.hooks?.afterRead?.(range);
      const parts = new PartSet(dataset, await suppression.get());
      let count = 0;
      for (const [id, fields] of chunk.entries) {
        count += entryCount(fields);
        for (let i = 0; i < fields.length; i += 2) {
          const field = fields[i];
          if (field === 'r' || field === 'q')
            parts.addEntryText(field, fields[i + 1] ?? '', { stream_id: id });
        }
      }
      const written = await parts.write(store, chunk.first, chunk.last);
      await options.hooks?.afterWrite?.(range);
      await options.hooks?.beforeTrim?.(range);
      await trimChunk(redis, k, dataset, chunk.first, chunk.last, count);
      result.chunks += 1;
      result.keys.push(...written);
      result.written += parts.counts.written;
      result.quarantined += parts.counts.quarantined;
      result.suppressed += parts.counts.suppressed;
      options.logger?.debug(
        { dataset, first: chunk.first, last: chunk.last, ...parts.counts, days: parts.days },
        'export chunk written',
      );
      if (!(await lease.extend())) throw new Error(`export lease for ${dataset} was lost; stopping this run`);
      if (stopAt === null || compareStreamIds(chunk.last, stopAt) >= 0) {
        // A resumed chunk may end before `stopAt`; anything else up to it is read in the next turn.
        if (!chunk.resumed) break;
      }
    }
  } finally {
    await lease.release().catch(() => {});
  }
  return result;
}

interface Chunk {
  first: string;
  last: string;
  entries: [string, string[]][];
  resumed: boolean;
}

async function readChunk(
  redis: Redis,
  k: IngestKeys,
  dataset: Dataset,
  stopAt: string | null,
  maxRecords: number,
): Promise<Chunk | null> {
  const stream = k.stream(dataset);
  const saved = await redis.get(k.inflight(dataset));
  if (saved) {
    const [first, last] = saved.split(' ') as [string, string];
    const entries = await redis.xrange(stream, first, last);
    if (entries.length > 0) return { first, last, entries, resumed: true };
    // Trimmed already (the range was cleared by a run that lost its reply): forget it.
    await redis.del(k.inflight(dataset));
  }
  if (stopAt === null) return null;
  const entries: [string, string[]][] = [];
  let records = 0;
  let start = '-';
  while (records < maxRecords) {
    const page = await redis.xrange(stream, start, stopAt, 'COUNT', READ_PAGE);
    for (const entry of page) {
      entries.push(entry);
      records += entryCount(entry[1]);
      if (records >= maxRecords) break;
    }
    if (page.length < READ_PAGE) break;
    start = `(${page[page.length - 1]![0]}`;
  }
  if (entries.length === 0) return null;
  const first = entries[0]![0];
  const last = entries[entries.length - 1]![0];
  await redis.set(k.inflight(dataset), `${first} ${last}`);
  return { first, last, entries, resumed: false };
}

// Trims only if the saved range is still ours, and clears it in the same step: a second trim of the
// same chunk (a retried job, a stolen lease) changes nothing.
const TRIM_SCRIPT = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('XTRIM', KEYS[2], 'MINID', ARGV[2])
local left = redis.call('HINCRBY', KEYS[3], ARGV[3], -tonumber(ARGV[4]))
if left < 0 then redis.call('HSET', KEYS[3], ARGV[3], 0) end
redis.call('DEL', KEYS[1])
return 1
`;

async function trimChunk(
  redis: Redis,
  k: IngestKeys,
  dataset: Dataset,
  first: string,
  last: string,
  records: number,
): Promise<void> {
  await redis.eval(
    TRIM_SCRIPT,
    3,
    k.inflight(dataset),
    k.stream(dataset),
    k.pending,
    `${first} ${last}`,
    nextStreamId(last),
    dataset,
    records,
  );
}

async function lastEntryId(redis: Redis, stream: string): Promise<string | null> {
  const last = await redis.xrevrange(stream, '+', '-', 'COUNT', 1);
  return last[0]?.[0] ?? null;
}

function entryCount(fields: string[]): number {
  for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'n') return Number(fields[i + 1]);
  return 0;
}
