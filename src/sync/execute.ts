import { batchSizeFor } from '../../connectors/core/batching.js';
import { AudienceGoneError, isConnectorError } from '../../connectors/core/errors.js';
import { type RetryOptions, withRetries } from '../../connectors/core/retry.js';
import type {
  AnyConnector,
  Capabilities,
  ConnectorContext,
  ConnectorId,
  ConnectorSession,
  PushResult,
  RowResult,
  SyncRow,
} from '../../connectors/core/types.js';
import { type Logger, log as rootLogger } from '../log.js';
import { readJsonl, writeJsonl } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { readJsonIfExists, writeJson } from '../storage/object-store.js';
import { buildDesired, type DesiredStats, type SyncMode } from './desired.js';
import { checkGuards, DEFAULT_GUARDS, type GuardSettings } from './guards.js';
import {
  type DestinationState,
  type Ledger,
  readLedger,
  readState,
  writeLedger,
  writeState,
} from './ledger.js';
import { type HeldLock, LocalLocker, type Locker, LockLostError } from './lock.js';
import { computePlan, type PlanRow, type SyncPlan } from './plan.js';
import { type BatchRecord, REJECTED_SAMPLE_LIMIT, type SyncRunRecord } from './run-record.js';

/**
 * Runs one audience × destination sync: plan against the ledger, guards, batches through the
 * connector with retries, a checkpoint after every confirmed batch, finalize, ledger update, and a
 * run report. A run killed half-way is resumed by calling this again with the same run id: it
 * continues after the last checkpointed batch without resending anything.
 */
export interface SyncAudienceInput {
  store: ObjectStore;
  audienceId: string;
  day: string;
  /** The destination's name in the YAML. */
  destination: string;
  connector: AnyConnector;
  /** Built with `createConnectorContext` (validated config, base URLs, outbox for dry runs). */
  ctx: ConnectorContext;
  /**
   * The configured platform's limits when they differ from the connector's own: a dry run
   * emulating TikTok cuts TikTok-sized batches (`openDestination` gives both).
   */
  capabilities?: Capabilities;
  batchSize?: number;
  /** The configured platform when the connector stands in for it (dry runs): its consent rules apply. */
  platform?: ConnectorId;
  mode: SyncMode;
  /** The base run id (e.g. the day); attempts after a failure get `-2`, `-3`, ... */
  runId: string;
  /** Full replace with the platform's replace mechanism, for repairing drift. */
  replace?: boolean;
  /** Let a plan through that the guards stopped. */
  confirm?: boolean;
  /** Plan and write the requests to the outbox only: no ledger, no state, no platform calls. */
  dryRun?: boolean;
  /** Start a new attempt even when this run id already completed. */
  force?: boolean;
  guards?: GuardSettings;
  /** Re-create a platform audience that was deleted on the platform side (default: report and stop). */
  recreateDeleted?: boolean;
  /** The platform-side audience name (default `audience-sync <audience id>`). */
  platformName?: string;
  description?: string;
  locker?: Locker;
  retry?: { maxAttempts?: number; maxDelayMs?: number };
  /** How long `finalize` may wait for asynchronous jobs (Google) before answering `finalizing`. */
  finalizeWaitMs?: number;
  onProgress?: (progress: { phase: 'plan' | 'push' | 'finalize'; done: number; total: number }) => void;
  log?: Logger;
}

/** The plan was stopped by a guard; rerun with `confirm` to let it through. */
export class SyncBlockedError extends Error {
  override readonly name = 'SyncBlockedError';
  constructor(
    readonly record: SyncRunRecord,
    message: string,
  ) {
    super(message);
  }
}

/** The platform audience was deleted on the platform side and re-creation is not configured. */
export class PlatformAudienceDeletedError extends Error {
  override readonly name = 'PlatformAudienceDeletedError';
}

const defaultLocker = new LocalLocker();

export async function syncAudience(input: SyncAudienceInput): Promise<SyncRunRecord> {
  const locker = input.locker ?? defaultLocker;
  const name = `${input.destination}.${input.audienceId}`;
  return locker.withLock(name, (held) => runLocked({ ...input, held }), { waitMs: 0 });
}

/** The input while the lock is held: the batch loop stops if the lock is lost. */
type LockedInput = SyncAudienceInput & { held?: HeldLock };

async function runLocked(input: LockedInput): Promise<SyncRunRecord> {
  const { store, destination, audienceId } = input;
  const log = (input.log ?? rootLogger).child({ destination, audience: audienceId });
  if (!input.dryRun) {
    const latest = await latestAttempt(store, destination, audienceId, input.runId);
    if (latest) {
      if (latest.record.status === 'completed' && !input.force) return latest.record;
      if (latest.record.status === 'running' || latest.record.status === 'finalizing') {
        log.info(
          { run_id: latest.record.run_id, batches_done: latest.record.batches.length },
          'resuming sync run',
        );
        const plan = await readStoredPlan(store, latest.record);
        const pending = cutBatches(plan, latest.record.plan.batch_size).length - latest.record.batches.length;
        latest.record.resumed = [
          ...(latest.record.resumed ?? []),
          {
            at: new Date().toISOString(),
            next_batch: latest.record.batches.length,
            possibly_repeated_batches: pending > 0 ? 1 : 0,
          },
        ];
        return continueRun(input, latest.record, plan, log);
      }
    }
  }
  const runId = input.dryRun ? input.runId : await nextAttemptId(store, destination, audienceId, input.runId);
  return startRun(input, runId, log);
}

async function startRun(input: LockedInput, runId: string, log: Logger): Promise<SyncRunRecord> {
  const { store, connector, destination, audienceId } = input;
  const started = Date.now();
  input.onProgress?.({ phase: 'plan', done: 0, total: 1 });
  const ledger = await readLedger(store, destination, audienceId);
  const { desired, stats, compliance } = await buildDesired({
    store,
    audienceId,
    day: input.day,
    connector,
    config: input.ctx.config,
    mode: input.mode,
    ledger,
    ...(input.platform ? { platform: input.platform } : {}),
  });
  const state = await readState(store, destination, audienceId);
  // A replace that failed half-way leaves the platform's contents uncertain: repair with a replace.
  const replace = input.replace === true || state?.needs_replace === true;
  if (replace && capabilitiesOf(input).replaceStrategy === 'none') {
    throw new Error(`destination "${destination}" (${connector.id}) has no replace mechanism`);
  }
  const plan = computePlan(
    desired,
    ledger,
    capabilitiesOf(input),
    batchSizeOf(input),
    replace ? 'replace' : 'diff',
    compliance,
  );
  const guards = checkGuards(plan, capabilitiesOf(input).minAudienceSize, input.guards ?? DEFAULT_GUARDS);
  const now = new Date().toISOString();
  const record: SyncRunRecord = {
    run_id: runId,
    audience_id: audienceId,
    destination,
    connector: connector.id,
    api_version: connector.apiVersion,
    day: input.day,
    mode: plan.mode,
    dry_run: input.dryRun === true,
    status: guards.length > 0 && !input.confirm ? 'blocked' : 'running',
    started_at: now,
    updated_at: now,
    plan: { ...plan.counts, requests: plan.requests, batch_size: plan.batchSize },
    members: stats,
    guards,
    batches: [],
    requests: 0,
    rejected_by_code: {},
    rejected_sample: [],
    unattributed: [],
    retries: 0,
    timings_ms: { plan: Date.now() - started, push: 0, total: 0 },
  };
  if (record.status === 'blocked') {
    record.finished_at = now;
    await saveRecord(input, record);
    throw new SyncBlockedError(
      record,
      `sync of ${audienceId} to ${destination} stopped: ${guards.map((g) => g.message).join('; ')}. Rerun with --confirm to apply it.`,
    );
  }
  if (!input.dryRun) await writeStoredPlan(store, record, plan);
  await saveRecord(input, record);
  return continueRun(input, record, plan, log, { ledger, state, stats });
}

interface Loaded {
  ledger: Ledger;
  state: DestinationState | undefined;
  stats: DesiredStats;
}

async function continueRun(
  input: LockedInput,
  record: SyncRunRecord,
  plan: StoredPlan,
  log: Logger,
  loaded?: Loaded,
): Promise<SyncRunRecord> {
  const { store, connector, ctx, destination, audienceId } = input;
  const ledger = loaded?.ledger ?? (await readLedger(store, destination, audienceId));
  let state = loaded?.state ?? (await readState(store, destination, audienceId));
  if (input.held?.fencingToken !== undefined) record.fencing_token = input.held.fencingToken;
  try {
    if (!record.platform_audience_id) {
      const ensured = await ensurePlatformAudience(input, record, plan, state, log);
      if (ensured.reset) {
        // The audience was re-created: what the old one held is void, so everyone is added again.
        ledger.clear();
        plan = await replanAfterReset(input, record);
      }
      state = ensured.state;
      await saveRecord(input, record);
    }
    const platformAudienceId = record.platform_audience_id!;
    const batches = cutBatches(plan, record.plan.batch_size);
    const pushStarted = Date.now();
    for (let i = record.batches.length; i < batches.length; i++) {
      // Asked of Redis before every batch: a holder that lost the lock sends nothing more.
      await input.held?.confirm();
      const batch = batches[i]!;
      let attempts = 0;
      const result = await withRetries(
        async () => {
          attempts += 1;
          return send(connector, ctx, {
            audienceId,
            platformAudienceId,
            batch,
            session: record.session,
            total: plan.adds.length,
            last: i === batches.length - 1,
          });
        },
        retryOptions(input, record, log),
      );
      recordBatch(record, batch, result, attempts);
      input.onProgress?.({ phase: 'push', done: i + 1, total: batches.length });
      await saveRecord(input, record);
    }
    record.timings_ms.push += Date.now() - pushStarted;

    input.onProgress?.({ phase: 'finalize', done: 0, total: 1 });
    await input.held?.confirm();
    const finalized = await connector.finalize(ctx, {
      audienceId,
      platformAudienceId,
      ...(record.session ? { session: record.session } : {}),
      maxWaitMs: input.finalizeWaitMs ?? 0,
    });
    if (finalized.session) record.session = finalized.session;
    record.finalize = {
      status: finalized.status,
      failures: finalized.failures,
      ...(finalized.details ? { details: finalized.details } : {}),
    };
    if (finalized.status === 'pending') {
      record.status = 'finalizing';
      await saveRecord(input, record);
      return record;
    }
    if (finalized.status === 'failed') {
      record.status = 'failed';
      record.error = {
        kind: 'platform',
        message: `the platform job failed: ${finalized.failures.map((f) => f.message).join('; ')}`,
      };
      record.finished_at = new Date().toISOString();
      await saveRecord(input, record);
      return record;
    }
    if (!input.dryRun) {
      const next = applyToLedger(record.mode === 'replace' ? new Map() : ledger, plan, record);
      await writeLedger(store, destination, audienceId, next);
      await writeState(store, {
        ...state!,
        needs_replace: false,
        last_run_id: record.run_id,
        updated_at: new Date().toISOString(),
      });
      if (record.requests > 0) await describeInto(input, record, log);
    }
    record.status = 'completed';
    record.finished_at = new Date().toISOString();
    // Wall time from the first start, resumed runs included.
    record.timings_ms.total = Date.parse(record.finished_at) - Date.parse(record.started_at);
    await saveRecord(input, record);
    log.info(
      { run_id: record.run_id, requests: record.requests, add: record.plan.add, remove: record.plan.remove },
      'sync completed',
    );
    return record;
  } catch (error) {
    // Another process may hold the run now: no failure is recorded; the checkpointed record stays resumable.
    if (error instanceof LockLostError) {
      await noteLockLost(input, record, error, log);
      throw error;
    }
    await failRun(input, record, plan, ledger, state, error);
    throw error;
  }
}

async function ensurePlatformAudience(
  input: SyncAudienceInput,
  record: SyncRunRecord,
  plan: StoredPlan,
  state: DestinationState | undefined,
  log: Logger,
): Promise<{ state: DestinationState; reset: boolean }> {
  const { connector, ctx, audienceId, destination } = input;
  const name = input.platformName ?? `audience-sync ${audienceId}`;
  const empty = plan.adds.length === 0 && plan.removes.length === 0;
  if (state && !state.platform_audience_gone) {
    // Nothing to send and an audience we already know: no request at all.
    if (empty && record.mode === 'diff') {
      record.platform_audience_id = state.platform_audience_id;
      return { state, reset: false };
    }
    try {
      await withRetries(
        () => connector.describe(ctx, state.platform_audience_id),
        retryOptions(input, record, log),
      );
      record.platform_audience_id = state.platform_audience_id;
      record.requests += 1;
      return { state, reset: false };
    } catch (error) {
      if (!(error instanceof AudienceGoneError)) throw error;
      record.requests += 1;
      log.warn(
        { platform_audience_id: state.platform_audience_id },
        'platform audience was deleted on the platform side',
      );
      if (!input.recreateDeleted) {
        if (!input.dryRun)
          await writeState(input.store, {
            ...state,
            platform_audience_gone: true,
            updated_at: new Date().toISOString(),
          });
        throw new PlatformAudienceDeletedError(
          `the ${connector.id} audience ${state.platform_audience_id} for "${audienceId}" was deleted on the platform side; set sync_settings.recreate_deleted_audiences: true to re-create it (everyone is sent again)`,
        );
      }
    }
  } else if (state?.platform_audience_gone && !input.recreateDeleted) {
    throw new PlatformAudienceDeletedError(
      `the ${connector.id} audience ${state.platform_audience_id} for "${audienceId}" was deleted on the platform side; set sync_settings.recreate_deleted_audiences: true to re-create it`,
    );
  }
  const ensured = await withRetries(
    () =>
      connector.ensureAudience(ctx, {
        audienceId,
        name,
        ...(input.description ? { description: input.description } : {}),
      }),
    retryOptions(input, record, log),
  );
  record.platform_audience_id = ensured.platformAudienceId;
  record.audience_created = ensured.created;
  const now = new Date().toISOString();
  const next: DestinationState = {
    destination,
    connector: connector.id,
    api_version: connector.apiVersion,
    audience_id: audienceId,
    platform_audience_id: ensured.platformAudienceId,
    platform_audience_name: name,
    created_at: state && !state.platform_audience_gone ? state.created_at : now,
    updated_at: now,
  };
  if (!input.dryRun) await writeState(input.store, next);
  // A state that pointed at a deleted audience (or none while the ledger had entries) means the
  // ledger describes an audience that no longer exists.
  const reset =
    !!state &&
    (state.platform_audience_gone === true || state.platform_audience_id !== ensured.platformAudienceId);
  return { state: next, reset };
}

/** After a re-creation the plan is "add everyone desired". */
async function replanAfterReset(input: SyncAudienceInput, record: SyncRunRecord): Promise<StoredPlan> {
  const { desired } = await buildDesired({
    store: input.store,
    audienceId: input.audienceId,
    day: input.day,
    connector: input.connector,
    config: input.ctx.config,
    mode: input.mode,
    ...(input.platform ? { platform: input.platform } : {}),
  });
  const plan = computePlan(desired, new Map(), capabilitiesOf(input), batchSizeOf(input), 'diff');
  record.plan = { ...plan.counts, requests: plan.requests, batch_size: plan.batchSize };
  if (!input.dryRun) await writeStoredPlan(input.store, record, plan);
  return plan;
}

/** Platform-requested waits, with jitter so parallel workers do not retry in lockstep. */
function retryOptions(input: SyncAudienceInput, record: SyncRunRecord, log: Logger): RetryOptions {
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

// --- batches ------------------------------------------------------------------------------------

interface Batch {
  op: 'add' | 'remove' | 'replace';
  index: number;
  rows: PlanRow[];
}

/** Removes first (a changed person leaves under the old keys before coming back under the new). */
function cutBatches(plan: StoredPlan, size: number): Batch[] {
  const out: Batch[] = [];
  const cut = (op: Batch['op'], rows: PlanRow[]) => {
    for (let i = 0, index = 0; i < rows.length; i += size, index++)
      out.push({ op, index, rows: rows.slice(i, i + size) });
  };
  if (plan.mode === 'replace') {
    cut('replace', plan.adds);
    // The platform must be told even an empty replacement, or nothing would be cleared.
    if (plan.adds.length === 0) out.push({ op: 'replace', index: 0, rows: [] });
  } else {
    cut('remove', plan.removes);
    cut('add', plan.adds);
  }
  return out;
}

async function send(
  connector: AnyConnector,
  ctx: ConnectorContext,
  args: {
    audienceId: string;
    platformAudienceId: string;
    batch: Batch;
    session?: ConnectorSession | undefined;
    total: number;
    last: boolean;
  },
): Promise<PushResult> {
  const rows: SyncRow[] = args.batch.rows.map((r) => r.row);
  const session = args.session ? { session: args.session } : {};
  if (args.batch.op === 'replace') {
    return connector.replace!(ctx, {
      audienceId: args.audienceId,
      platformAudienceId: args.platformAudienceId,
      rows,
      last: args.last,
      estimatedTotal: args.total,
      ...session,
    });
  }
  return connector.push(ctx, {
    audienceId: args.audienceId,
    platformAudienceId: args.platformAudienceId,
    op: args.batch.op,
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

/**
 * The ledger after the confirmed batches: removals leave it (unless refused), accepted additions
 * enter it with the keys as sent. Applying twice gives the same ledger, so a crash between the
 * ledger write and the final report is harmless.
 */
function applyToLedger(base: Ledger, plan: StoredPlan, record: SyncRunRecord): Ledger {
  const ledger = new Map(base);
  const batches = cutBatches(plan, record.plan.batch_size);
  const confirmedAt = new Date().toISOString();
  const done = record.batches.length;
  // Removes first, exactly as they were sent.
  for (const phase of ['remove', 'add', 'replace'] as const) {
    for (let i = 0; i < done; i++) {
      const batch = batches[i]!;
      if (batch.op !== phase) continue;
      const refused = new Set(record.batches[i]!.rejected_ids);
      for (const r of batch.rows) {
        if (refused.has(r.row.key)) continue;
        if (phase === 'remove') ledger.delete(r.row.key);
        else {
          ledger.set(r.row.key, {
            customer_id: r.row.key,
            digest: r.digest,
            ...(r.input ? { input: r.input } : {}),
            ...(Object.keys(r.row.keys).length ? { keys: r.row.keys } : {}),
            ...(r.row.attributes ? { attributes: r.row.attributes } : {}),
            confirmed_at: confirmedAt,
          });
        }
      }
    }
  }
  return ledger;
}

async function failRun(
  input: SyncAudienceInput,
  record: SyncRunRecord,
  plan: StoredPlan,
  ledger: Ledger,
  state: DestinationState | undefined,
  error: unknown,
): Promise<void> {
  record.status = 'failed';
  record.finished_at = new Date().toISOString();
  record.error = isConnectorError(error)
    ? { kind: error.kind, ...(error.code !== undefined ? { code: error.code } : {}), message: error.message }
    : {
        kind: error instanceof Error ? error.name : 'error',
        message: error instanceof Error ? error.message : String(error),
      };
  // What the platform confirmed stays confirmed: record it so the next attempt does not resend it.
  // Asynchronous jobs confirm nothing before finalize, and a broken replace leaves the contents unknown.
  if (!input.dryRun && record.batches.length > 0 && state) {
    if (record.mode === 'replace') {
      await writeState(input.store, { ...state, needs_replace: true, updated_at: record.finished_at });
    } else if (!capabilitiesOf(input).asyncJobs) {
      await writeLedger(
        input.store,
        input.destination,
        input.audienceId,
        applyToLedger(ledger, plan, record),
      );
    }
  }
  if (error instanceof AudienceGoneError && state && !input.dryRun) {
    await writeState(input.store, { ...state, platform_audience_gone: true, updated_at: record.finished_at });
  }
  await saveRecord(input, record).catch(() => {});
}

async function describeInto(input: SyncAudienceInput, record: SyncRunRecord, log: Logger): Promise<void> {
  try {
    const description = await input.connector.describe(input.ctx, record.platform_audience_id!);
    record.platform = description;
    record.match_rate = description.matchRate ?? null;
    record.requests += 1;
  } catch (error) {
    // Sizes show up hours later on every platform; a failed look is not a failed sync.
    log.warn(
      { err: isConnectorError(error) ? error.toJSON() : String(error) },
      'could not read the platform audience size',
    );
  }
}

// --- persistence ---------------------------------------------------------------------------------

type StoredPlan = Pick<SyncPlan, 'mode' | 'adds' | 'removes'>;

function runsPrefix(destination: string, audienceId: string): string {
  return keys.syncRun(destination, audienceId, 'x').replace(/x\.json$/, '');
}

function planKey(record: Pick<SyncRunRecord, 'destination' | 'audience_id' | 'run_id'>): string {
  return keys
    .syncRun(record.destination, record.audience_id, record.run_id)
    .replace(/\.json$/, '.plan.jsonl.gz');
}

function recordKey(input: SyncAudienceInput, record: SyncRunRecord): string {
  return input.dryRun
    ? `${keys.outboxPrefix(record.destination, record.audience_id, record.run_id)}run.json`
    : keys.syncRun(record.destination, record.audience_id, record.run_id);
}

/**
 * Says in the run record that this holder stopped because it lost the lock — unless a newer holder
 * (a larger fencing token) has written the record since: that record is the live one, and this
 * holder's copy is stale. (Read, then write: a newer holder that writes in between overwrites this
 * note with its own record at its next checkpoint, which is what it should be.)
 */
async function noteLockLost(input: LockedInput, record: SyncRunRecord, error: LockLostError, log: Logger) {
  try {
    const stored = await readJsonIfExists<SyncRunRecord>(input.store, recordKey(input, record));
    if ((stored?.fencing_token ?? 0) > (record.fencing_token ?? 0)) return;
    record.lock_lost = [
      ...(record.lock_lost ?? []),
      {
        at: new Date().toISOString(),
        reason: error.reason,
        next_batch: record.batches.length,
        ...(record.fencing_token !== undefined ? { fencing_token: record.fencing_token } : {}),
      },
    ];
    await saveRecord(input, record);
  } catch (writeError) {
    log.warn({ run_id: record.run_id, err: writeError }, 'could not note the lost lock in the run record');
  }
}

async function saveRecord(input: SyncAudienceInput, record: SyncRunRecord): Promise<void> {
  record.updated_at = new Date().toISOString();
  await writeJson(input.store, recordKey(input, record), record);
}

interface StoredPlanLine {
  op: 'add' | 'remove';
  key: string;
  digest: string;
  input?: string;
  reason: PlanRow['reason'];
  keys: SyncRow['keys'];
  attributes?: SyncRow['attributes'];
  consent?: SyncRow['consent'];
}

async function writeStoredPlan(store: ObjectStore, record: SyncRunRecord, plan: StoredPlan): Promise<void> {
  function* lines(): Generator<StoredPlanLine> {
    for (const [op, rows] of [
      ['remove', plan.removes],
      ['add', plan.adds],
    ] as const) {
      for (const r of rows) {
        yield {
          op,
          key: r.row.key,
          digest: r.digest,
          ...(r.input ? { input: r.input } : {}),
          reason: r.reason,
          keys: r.row.keys,
          ...(r.row.attributes ? { attributes: r.row.attributes } : {}),
          ...(r.row.consent ? { consent: r.row.consent } : {}),
        };
      }
    }
  }
  await writeJsonl(store, planKey(record), lines());
}

async function readStoredPlan(store: ObjectStore, record: SyncRunRecord): Promise<StoredPlan> {
  const plan: StoredPlan = { mode: record.mode, adds: [], removes: [] };
  for await (const line of readJsonl<StoredPlanLine>(store, planKey(record))) {
    const row: SyncRow = {
      key: line.key,
      keys: line.keys,
      ...(line.attributes ? { attributes: line.attributes } : {}),
      ...(line.consent ? { consent: line.consent } : {}),
    };
    (line.op === 'add' ? plan.adds : plan.removes).push({
      row,
      digest: line.digest,
      ...(line.input ? { input: line.input } : {}),
      reason: line.reason,
    });
  }
  return plan;
}

/** The newest attempt of a base run id (`base`, `base-2`, ...). */
async function latestAttempt(
  store: ObjectStore,
  destination: string,
  audienceId: string,
  base: string,
): Promise<{ record: SyncRunRecord; attempt: number } | undefined> {
  const attempt = await lastAttemptNumber(store, destination, audienceId, base);
  if (attempt === 0) return undefined;
  const runId = attempt === 1 ? base : `${base}-${attempt}`;
  const record = await readJsonIfExists<SyncRunRecord>(store, keys.syncRun(destination, audienceId, runId));
  return record ? { record, attempt } : undefined;
}

async function nextAttemptId(
  store: ObjectStore,
  destination: string,
  audienceId: string,
  base: string,
): Promise<string> {
  const last = await lastAttemptNumber(store, destination, audienceId, base);
  return last === 0 ? base : `${base}-${last + 1}`;
}

async function lastAttemptNumber(
  store: ObjectStore,
  destination: string,
  audienceId: string,
  base: string,
): Promise<number> {
  const prefix = runsPrefix(destination, audienceId);
  let last = 0;
  for await (const info of store.list(`${prefix}${base}`)) {
    const name = info.key.slice(prefix.length);
    if (name === `${base}.json`) last = Math.max(last, 1);
    const m = new RegExp(`^${escapeRe(base)}-(\\d+)\\.json$`).exec(name);
    if (m) last = Math.max(last, Number(m[1]));
  }
  return last;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function capabilitiesOf(input: SyncAudienceInput): Capabilities {
  return input.capabilities ?? input.connector.capabilities;
}

function batchSizeOf(input: SyncAudienceInput): number {
  return input.batchSize ?? batchSizeFor(capabilitiesOf(input), input.ctx.config);
}
