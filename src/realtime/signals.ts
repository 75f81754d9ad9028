import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { AudienceSyncConfig as AudienceConfig } from '../config-file.js';
import type { Dataset } from '../contract/records.js';
import type { BufferStatus } from '../ingest/buffer.js';
import type { BufferItem } from '../ingest/items.js';
import { syncTargets } from '../pipeline/targets.js';
import { addPending, batchKeys, type RealtimeOp } from './pending.js';

/**
 * Ingest side of the real-time path (docs/operations.md, "Real-time suppression"): an accepted
 * record that matches a trigger becomes a signal — a customer id, an operation and the audiences it
 * applies to, nothing else — and one job per ingest call carries them to the `realtime` queue.
 */
export interface RealtimeSignal {
  customer_id: string;
  op: RealtimeOp;
  audiences: string[];
  /** When ingest accepted the record (ms): the start of the lag the metric reports. */
  received_at_ms: number;
}

export interface SignalJobData {
  signals: RealtimeSignal[];
}

/** What a trigger matcher answers for a record (src/realtime/triggers.ts). */
export interface SignalMatcher {
  readonly empty: boolean;
  readonly datasets: ReadonlySet<Dataset>;
  match(dataset: Dataset, record: Record<string, unknown>): { op: RealtimeOp; audienceIds: string[] }[];
}

/** The signals of the items the buffer accepted (duplicates were signalled the first time). */
export function signalsOf(
  items: readonly BufferItem[],
  statuses: readonly BufferStatus[],
  matcher: SignalMatcher,
  receivedAtMs: number,
): RealtimeSignal[] {
  if (matcher.empty) return [];
  const out: RealtimeSignal[] = [];
  items.forEach((item, i) => {
    if (statuses[i] !== 'accepted') return;
    for (const line of item.lines) {
      // Parsed only when its dataset can trigger something (webhooks bring mostly messages).
      if (line.kind !== 'r' || !matcher.datasets.has(line.dataset)) continue;
      let record: Record<string, unknown>;
      try {
        record = JSON.parse(line.json) as Record<string, unknown>;
      } catch {
        continue;
      }
      if (typeof record.customer_id !== 'string' || record.customer_id === '') continue;
      for (const action of matcher.match(line.dataset, record)) {
        if (action.audienceIds.length === 0) continue;
        out.push({
          customer_id: record.customer_id,
          op: action.op,
          audiences: action.audienceIds,
          received_at_ms: receivedAtMs,
        });
      }
    }
  });
  return out;
}

export async function enqueueSignals(queue: Queue, signals: readonly RealtimeSignal[]): Promise<void> {
  if (signals.length === 0) return;
  const data: SignalJobData = { signals: [...signals] };
  await queue.add('signals', data, {
    removeOnComplete: true,
    removeOnFail: { age: 7 * 86_400 },
    attempts: 10,
    backoff: { type: 'exponential', delay: 1_000 },
  });
}

/** A micro-batch to flush: which destination, audience and operation (ids are in Redis). */
export interface FlushJobData {
  destination: string;
  audienceId: string;
  op: RealtimeOp;
}

/**
 * The signal worker's step: each signal joins the pending set of every destination its audiences
 * sync to (ad platforms; a Customer.io write-back is left to the daily sync), and the first signal
 * of a batch queues its flush, `flushMs` later.
 */
export async function routeSignals(options: {
  redis: Redis;
  prefix: string;
  config: AudienceConfig;
  flushQueue: (destination: string) => Queue;
  signals: readonly RealtimeSignal[];
  flushMs: number;
}): Promise<{ batches: number; flushes: number }> {
  const groups = new Map<
    string,
    { data: FlushJobData; people: { customerId: string; receivedAtMs: number }[] }
  >();
  const targets = syncTargets(options.config.audiences).filter((t) => t.kind === 'audience');
  for (const signal of options.signals) {
    for (const target of targets) {
      if (!signal.audiences.includes(target.audienceId)) continue;
      const id = `${target.destination}\u0000${target.audienceId}\u0000${signal.op}`;
      let group = groups.get(id);
      if (!group) {
        group = {
          data: { destination: target.destination, audienceId: target.audienceId, op: signal.op },
          people: [],
        };
        groups.set(id, group);
      }
      group.people.push({ customerId: signal.customer_id, receivedAtMs: signal.received_at_ms });
    }
  }
  let flushes = 0;
  for (const { data, people } of groups.values()) {
    const keys = batchKeys(options.prefix, data.destination, data.audienceId, data.op);
    // The flag outlives a lost flush job by a bounded time, after which the next signal queues one.
    const mustSchedule = await addPending(
      options.redis,
      keys,
      people,
      Math.max(60_000, options.flushMs * 20),
    );
    if (!mustSchedule) continue;
    await options.flushQueue(data.destination).add('flush', data, FLUSH_JOB_OPTIONS(options.flushMs));
    flushes += 1;
  }
  return { batches: groups.size, flushes };
}

const FLUSH_JOB_OPTIONS = (delayMs: number) => ({
  delay: delayMs,
  removeOnComplete: true,
  removeOnFail: { age: 7 * 86_400 },
  // A destination that is throttled or locked by the daily sync: keep trying for about an hour.
  attempts: 720,
  backoff: { type: 'fixed' as const, delay: 5_000 },
});
