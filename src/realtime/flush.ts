import type { Redis } from 'ioredis';
import { today } from '../contract/days.js';
import { faultPoint } from '../fault-point.js';
import { runSyncStage, type StageContext } from '../pipeline/stages.js';
import type { TargetedPeople } from '../sync/execute.js';
import type { RealtimeRunStats, SyncRunRecord } from '../sync/run-record.js';
import { newestPeople } from './newest-people.js';
import { batchKeys, claimBatch, finishBatch } from './pending.js';
import type { FlushJobData } from './signals.js';

/**
 * A flush: the pending people of one destination × audience × operation, taken until none are left
 * (people who arrive meanwhile are taken too, or queue the next flush), each batch sent as one sync run of
 * trigger `realtime` (in the run history; the ledger is updated as for any sync), cut into the
 * platform's batches by the sync engine. Removals need only the ledger (the keys that were sent):
 * a person the platform audience does not hold costs no request. Additions take identifiers from
 * the newest records (realtime/newest-people.ts: the snapshot, newer parts, the ingest buffer); a
 * person none of them knows is counted unresolved, never guessed.
 */

/** Most people one flush run carries; more wait for the next run of the same flush. */
const MAX_FLUSH_PEOPLE = 100_000;

export interface FlushResult {
  runs: { run_id: string; people: number; requests: number; unresolved: number; lag_p99_ms: number }[];
}

export async function flushRealtime(options: {
  ctx: StageContext;
  redis: Redis;
  prefix: string;
  /** Redis key prefix of the ingest buffer, where the newest identifies wait for the export. */
  ingestPrefix: string;
  data: FlushJobData;
  now?: () => number;
}): Promise<FlushResult> {
  const { ctx, redis, data } = options;
  const now = options.now ?? Date.now;
  const keys = batchKeys(options.prefix, data.destination, data.audienceId, data.op);
  const result: FlushResult = { runs: [] };
  for (;;) {
    const batch = await claimBatch(redis, keys, `realtime-${data.op}-${now()}`, MAX_FLUSH_PEOPLE);
    if (!batch) break;
    faultPoint('realtime:after-claim');
    const ids = new Set(batch.people.map((p) => p.customerId));
    let only: TargetedPeople = { op: 'remove', matches: (id) => ids.has(id) };
    let unresolved: number | undefined;
    if (data.op === 'add') {
      const newest = await newestPeople({
        store: ctx.store,
        redis,
        ingestPrefix: options.ingestPrefix,
        ids,
      });
      unresolved = ids.size - newest.lines.length;
      if (newest.lines.length === 0) {
        // Nobody is known anywhere: nothing is guessed, and there is nothing to send.
        ctx.log.warn(
          { audience: data.audienceId, destination: data.destination, people: ids.size },
          'real-time additions unresolved: nobody named is known yet',
        );
        await finishBatch(redis, keys);
        continue;
      }
      only = { op: 'add', ids, day: newest.snapshotDay ?? today(), people: newest.lines };
    }
    const record = await runSyncStage(ctx, {
      day: today(),
      target: { audienceId: data.audienceId, destination: data.destination, kind: 'audience' },
      runId: batch.runId,
      only,
      trigger: 'realtime',
      // A flush window's budget is ceil(n / the platform's largest batch) + 1 requests.
      largestBatches: true,
      // Short in-process retries; longer waits go back to the queue (the batch stays in flight).
      retry: { maxAttempts: 3, maxDelayMs: 30_000 },
      finalizeWaitMs: 5 * 60_000,
      // Written with the completed record, not after it.
      realtimeStats: (completed) => realtimeStats(completed, batch.people, unresolved),
    });
    if (record.status !== 'completed') {
      throw new Error(
        `real-time run ${record.run_id} is ${record.status}${record.error ? `: ${record.error.message}` : ''}`,
      );
    }
    // A run completed before real-time stats were written with the record has none: counted here only.
    const stats = record.realtime ?? realtimeStats(record, batch.people, unresolved);
    faultPoint('realtime:after-run');
    await finishBatch(redis, keys);
    result.runs.push({
      run_id: record.run_id,
      people: stats.people,
      requests: record.requests,
      unresolved: stats.unresolved,
      lag_p99_ms: stats.lag_ms.p99,
    });
    ctx.log.info(
      {
        destination: data.destination,
        audience: data.audienceId,
        op: data.op,
        run_id: record.run_id,
        people: stats.people,
        requests: record.requests,
        lag_p99_ms: stats.lag_ms.p99,
      },
      'real-time batch sent',
    );
  }
  return result;
}

/**
 * Lag from ingest to the platform's acknowledgement (the run's end), over the batch's people.
 * `unresolved`: additions, the people no record knows; removals (default), the people the platform
 * audience did not hold, whom there was nothing to remove for.
 */
function realtimeStats(
  record: SyncRunRecord,
  people: readonly { receivedAtMs: number }[],
  unresolved?: number,
): RealtimeRunStats {
  const ack = Date.parse(record.finished_at ?? record.updated_at);
  const lags = people.map((p) => Math.max(0, ack - p.receivedAtMs)).sort((a, b) => a - b);
  const at = (q: number) =>
    lags.length === 0 ? 0 : lags[Math.min(lags.length - 1, Math.ceil(q * lags.length) - 1)]!;
  const changed = record.plan.add + record.plan.remove;
  return {
    people: people.length,
    unresolved: unresolved ?? Math.max(0, people.length - changed),
    lag_ms: { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: lags.at(-1) ?? 0 },
  };
}
