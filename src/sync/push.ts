import { type RetryOptions, withRetries } from '../../connectors/core/retry.js';
import type { PushResult, RowResult, SyncRow } from '../../connectors/core/types.js';
import type { Logger } from '../log.js';
import type { SyncAudienceInput } from './execute.js';
import type { HeldLock } from './lock.js';
import { type BatchRecord, REJECTED_SAMPLE_LIMIT, type SyncRunRecord } from './run-record.js';
import { saveRunRecord } from './runs.js';
import { type Batch, batchCount, planBatches } from './stored-plan.js';

/**
 * The batch loop: every batch of the stored plan not yet confirmed goes to the connector, with
 * retries where the platform asks for them, and the run record is checkpointed after each. A
 * holder that lost the sync lock stops before its next batch. Memory holds one batch at a time.
 */
export async function pushBatches(
  input: SyncAudienceInput & { held?: HeldLock },
  record: SyncRunRecord,
  log: Logger,
): Promise<void> {
  const { store } = input;
  const platformAudienceId = record.platform_audience_id!;
  const total = batchCount(record);
  const started = Date.now();
  const requestGroup = (input.capabilities ?? input.connector.capabilities).requestGroup;
  for await (const batch of planBatches(store, record, { from: record.batches.length, requestGroup })) {
    // Asked of Redis before every batch: a holder that lost the lock sends nothing more.
    await input.held?.confirm();
    let attempts = 0;
    const result = await withRetries(
      async () => {
        attempts += 1;
        return send(input, batch, {
          platformAudienceId,
          session: record.session,
          estimatedTotal: record.plan.add,
          last: batch.number === total - 1,
        });
      },
      retryOptions(input, record, log),
    );
    recordBatch(record, batch, result, attempts);
    input.onProgress?.({ phase: 'push', done: batch.number + 1, total });
    await saveRunRecord(store, record);
  }
  record.timings_ms.push += Date.now() - started;
}

function send(
  input: SyncAudienceInput,
  batch: Batch,
  args: {
    platformAudienceId: string;
    session: SyncRunRecord['session'];
    estimatedTotal: number;
    last: boolean;
  },
): Promise<PushResult> {
  const { connector, ctx, audienceId } = input;
  const rows: SyncRow[] = batch.rows.map((r) => r.row);
  const session = args.session ? { session: args.session } : {};
  if (batch.op === 'replace') {
    return connector.replace!(ctx, {
      audienceId,
      platformAudienceId: args.platformAudienceId,
      rows,
      last: args.last,
      estimatedTotal: args.estimatedTotal,
      ...session,
    });
  }
  return connector.push(ctx, {
    audienceId,
    platformAudienceId: args.platformAudienceId,
    op: batch.op,
    rows,
    ...session,
  });
}

function recordBatch(record: SyncRunRecord, batch: Batch, result: PushResult, attempts: number): void {
  if (result.rows.length !== batch.rows.length) {
    throw new Error(
      `${record.connector} returned ${result.rows.length} results for ${batch.rows.length} rows`,
    );
  }
  const count = (s: RowResult['status']) => result.rows.filter((r) => r.status === s).length;
  const rejected = result.rows.filter((r) => r.status === 'rejected');
  const entry: BatchRecord = {
    op: batch.op,
    index: batch.index,
    ...(batch.group !== undefined ? { group: batch.group } : {}),
    rows: batch.rows.length,
    accepted: count('accepted'),
    rejected: rejected.length,
    skipped: count('skipped'),
    rejected_ids: rejected.map((r) => r.key),
    requests: result.requests,
    attempts,
    finished_at: new Date().toISOString(),
  };
  record.batches.push(entry);
  record.requests += result.requests;
  if (result.session) record.session = result.session;
  for (const r of rejected) {
    const code = r.code ?? 'rejected';
    record.rejected_by_code[code] = (record.rejected_by_code[code] ?? 0) + 1;
    if (record.rejected_sample.length < REJECTED_SAMPLE_LIMIT) {
      record.rejected_sample.push({
        customer_id: r.key,
        op: batch.op,
        ...(r.code ? { code: r.code } : {}),
        ...(r.reason ? { reason: r.reason } : {}),
      });
    }
  }
  record.unattributed.push(...result.unattributed);
}

/** Platform-requested waits, with jitter so parallel workers do not retry in lockstep. */
export function retryOptions(input: SyncAudienceInput, record: SyncRunRecord, log: Logger): RetryOptions {
  return {
    ...input.retry,
    sleep: (ms) => input.ctx.sleep(Math.round(ms * (1 + Math.random() * 0.2))),
    onRetry: (error, attempt, delayMs) => {
      record.retries += 1;
      log.warn(
        { kind: error.kind, code: error.code, attempt, delay_ms: delayMs },
        'platform asked us to retry',
      );
    },
  };
}
