import { batchSizeFor } from '../../connectors/core/batching.js';
import { AudienceGoneError, isConnectorError } from '../../connectors/core/errors.js';
import { withRetries } from '../../connectors/core/retry.js';
import type {
  AnyConnector,
  Capabilities,
  ConnectorContext,
  ConnectorId,
} from '../../connectors/core/types.js';
import type { MemberRecord } from '../contract/records.js';
import { type Logger, log as rootLogger } from '../log.js';
import { compareIds } from '../people/snapshot.js';
import type { Line } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import { type ObjectStore, readJsonIfExists } from '../storage/object-store.js';
import { type DesiredStats, desiredItems, erasureItems, type SyncMode } from './desired.js';
import { checkGuards, DEFAULT_GUARDS, type GuardSettings } from './guards.js';
import {
  type DestinationState,
  ensureLedgerOrder,
  finalizingRuns,
  type LedgerEntry,
  ledgerEntries,
  readState,
  withFinalizingRuns,
  writeLedger,
  writeState,
} from './ledger.js';
import { applyConfirmedBatches } from './ledger-update.js';
import { type HeldLock, LocalLocker, type Locker, LockLostError } from './lock.js';
import { computePlan, type PlanOutline } from './plan.js';
import { resolvePlatformAudience } from './platform-audience.js';
import { pushBatches, retryOptions } from './push.js';
import type { RealtimeRunStats, SyncRunRecord } from './run-record.js';
import { attempts, runRecordKey, saveRunRecord } from './runs.js';
import { batchCount, planObjects, StoredPlanWriter } from './stored-plan.js';

export { PlatformAudienceDeletedError } from './platform-audience.js';

/**
 * Runs one audience × destination sync: a streaming diff of the desired set against the ledger
 * into a stored plan, guards, the platform audience, the batches through the connector (push.ts),
 * finalize, the ledger update, and a run report. A run killed half-way is resumed by calling this
 * again with the same run id: it continues after the last checkpointed batch without resending
 * anything. Memory does not grow with the audience: every side of the diff is a sorted stream.
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
  /**
   * A targeted run: the plan covers exactly these people and touches nobody else, and guards never
   * stop it. `remove`: the ledger's entries it matches leave the platform (an erasure, a real-time
   * removal). `add`: the named people are added with the identifiers of the person lines given
   * (a real-time addition to an exclusion list); people held already, never-send people, people
   * without a line and people without identifiers are not sent.
   */
  only?: TargetedPeople;
  /** What started the run, shown in the run history (absent: the daily sync or a manual one). */
  trigger?: SyncRunRecord['trigger'];
  /**
   * Real-time runs: their stats (`realtime` in the record), computed from the run as it completes
   * (its end is the platform's acknowledgement) and written in the completed record itself.
   */
  realtimeStats?: (record: SyncRunRecord) => RealtimeRunStats;
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
  if (input.dryRun) return startRun(input, input.runId, log);
  const { latest, nextId } = await attempts(store, destination, audienceId, input.runId);
  if (latest?.status === 'completed' && !input.force) return latest;
  if (latest?.status === 'running' || latest?.status === 'finalizing') {
    log.info({ run_id: latest.run_id, batches_done: latest.batches.length }, 'resuming sync run');
    const pending = batchCount(latest) - latest.batches.length;
    latest.resumed = [
      ...(latest.resumed ?? []),
      {
        at: new Date().toISOString(),
        next_batch: latest.batches.length,
        possibly_repeated_batches: pending > 0 ? 1 : 0,
      },
    ];
    return continueRun(input, latest, log);
  }
  const state = await readState(store, destination, audienceId);
  const earlier = await finishEarlierRuns(input, state, log);
  if (earlier.pending) return earlier.pending;
  // Finishing earlier runs rewrote the state: read it again then, and only then.
  return startRun(
    input,
    nextId,
    log,
    earlier.stateChanged ? await readState(store, destination, audienceId) : state,
  );
}

/**
 * Earlier runs whose jobs are staged but not confirmed (`finalizing_run_ids`: their attempts ran
 * out while the platform ran them, or they are still waiting for them) are finalized, oldest
 * first, before a new run plans: planning first would send their people again, into new jobs
 * Google refuses to run while theirs run. One still running is returned as `pending`, and the
 * new run starts on a later attempt. Names of runs no longer finalizing (failed since) are
 * dropped. Targeted runs (real time, erasure) do not wait for them.
 */
async function finishEarlierRuns(
  input: LockedInput,
  state: DestinationState | undefined,
  log: Logger,
): Promise<{ pending?: SyncRunRecord; stateChanged: boolean }> {
  const runs = finalizingRuns(state);
  if (input.only || runs.length === 0) return { stateChanged: false };
  const { store, destination, audienceId } = input;
  const stale: string[] = [];
  let finished = false;
  for (const runId of runs) {
    const record = await readJsonIfExists<SyncRunRecord>(store, keys.syncRun(destination, audienceId, runId));
    if (record?.status !== 'finalizing') {
      stale.push(runId);
      continue;
    }
    log.info({ run_id: runId }, 'finalizing an earlier run first');
    const done = await continueRun(input, record, log);
    if (done.status === 'finalizing') return { pending: done, stateChanged: true };
    finished = true;
    // A completed run took its own name off; a failed one (its job failed) leaves it here.
    if (done.status !== 'completed') stale.push(runId);
  }
  if (stale.length > 0) {
    // A completed run rewrote the state: take it as it is now, less the stale names.
    const now = finished ? await readState(store, destination, audienceId) : state;
    if (now)
      await writeState(store, {
        ...withFinalizingRuns(
          now,
          finalizingRuns(now).filter((id) => !stale.includes(id)),
        ),
        updated_at: new Date().toISOString(),
      });
  }
  return { stateChanged: true };
}

/** `known`: the destination's state as the caller just read it. */
async function startRun(
  input: LockedInput,
  runId: string,
  log: Logger,
  known?: DestinationState,
): Promise<SyncRunRecord> {
  const { store, connector, destination, audienceId } = input;
  const started = Date.now();
  input.onProgress?.({ phase: 'plan', done: 0, total: 1 });
  const state = await ensureLedgerOrder(
    store,
    destination,
    audienceId,
    known ?? (await readState(store, destination, audienceId)),
    log,
  );
  // A replace that failed half-way leaves the platform's contents uncertain: repair with a replace.
  // Never in a targeted run: replacing an audience with the few people it names would empty it. It
  // diffs against the ledger as usual, and the next run that is not targeted replaces.
  const replace = !input.only && (input.replace === true || state?.needs_replace === true);
  if (replace && capabilitiesOf(input).replaceStrategy === 'none') {
    throw new Error(`destination "${destination}" (${connector.id}) has no replace mechanism`);
  }
  const ids = { destination, audience_id: audienceId, run_id: runId, dry_run: input.dryRun === true };
  const { outline, stats, objects, batches } = await storePlan(input, ids, {
    mode: replace ? 'replace' : 'diff',
    ledger: true,
  });
  const guards = checkGuards(outline, capabilitiesOf(input).minAudienceSize, input.guards ?? DEFAULT_GUARDS);
  const now = new Date().toISOString();
  const record: SyncRunRecord = {
    run_id: runId,
    audience_id: audienceId,
    destination,
    connector: connector.id,
    api_version: connector.apiVersion,
    day: input.day,
    ...(input.trigger ? { trigger: input.trigger } : {}),
    mode: outline.mode,
    dry_run: input.dryRun === true,
    status: guards.length > 0 && !input.confirm && !input.only ? 'blocked' : 'running',
    started_at: now,
    updated_at: now,
    plan: planFields(outline, batches),
    plan_objects: objects,
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
    // Nothing will be sent from this plan: a confirmed rerun plans again.
    await store.delete([objects.removes, objects.adds]);
    delete record.plan_objects;
    await saveRunRecord(store, record);
    throw new SyncBlockedError(
      record,
      `sync of ${audienceId} to ${destination} stopped: ${guards.map((g) => g.message).join('; ')}. Rerun with --confirm to apply it.`,
    );
  }
  await saveRunRecord(store, record);
  return continueRun(input, record, log);
}

/**
 * The diff, streamed into the run's stored plan: the desired set (members × people snapshot) against
 * the ledger — or against nothing, after the platform audience was re-created.
 */
async function storePlan(
  input: SyncAudienceInput,
  ids: Pick<SyncRunRecord, 'destination' | 'audience_id' | 'run_id' | 'dry_run'>,
  options: { mode: PlanOutline['mode']; ledger: boolean },
): Promise<{
  outline: PlanOutline;
  stats: DesiredStats;
  objects: { removes: string; adds: string };
  /** How the batches are cut, when the platform has request groups. */
  batches: Pick<SyncRunRecord['plan'], 'grouped' | 'remove_batches' | 'add_batches'>;
}> {
  const { store, destination, audienceId } = input;
  const { items, stats } = input.only
    ? await targetedItems(input, input.only, options.ledger)
    : await desiredItems({
        store,
        audienceId,
        day: input.day,
        connector: input.connector,
        config: input.ctx.config,
        mode: input.mode,
        ...(options.ledger ? { ledger: ledgerEntries(store, destination, audienceId) } : {}),
        ...(input.platform ? { platform: input.platform } : {}),
      });
  const objects = planObjects(ids);
  const requestGroup = capabilitiesOf(input).requestGroup;
  const size = batchSizeOf(input);
  const writer = new StoredPlanWriter(store, objects, { size, mode: options.mode, requestGroup });
  let outline: PlanOutline;
  try {
    outline = await computePlan(items, capabilitiesOf(input), size, options.mode, writer);
  } catch (error) {
    await writer.abort(error);
    throw error;
  } finally {
    await items.return(undefined);
  }
  await writer.close();
  const batches = writer.batches();
  return {
    outline: requestGroup ? { ...outline, requests: batches.remove + batches.add } : outline,
    stats,
    objects,
    batches: requestGroup ? { grouped: true, remove_batches: batches.remove, add_batches: batches.add } : {},
  };
}

export type TargetedPeople =
  | { op: 'remove'; matches: (customerId: string) => boolean }
  /** `people`: their snapshot-form lines in `customer_id` order (realtime/newest-people.ts). */
  | { op: 'add'; ids: ReadonlySet<string>; day: string; people: readonly string[] };

/** The diff items of a targeted run: only the named people, against the ledger. */
async function targetedItems(input: SyncAudienceInput, only: TargetedPeople, withLedger: boolean) {
  const { store, destination, audienceId } = input;
  const ledger = withLedger ? ledgerEntries(store, destination, audienceId) : [];
  if (only.op === 'remove') return erasureItems(ledger, only.matches);
  const { ids: named, day, people: lines } = only;
  const ids = [...named].sort(compareIds);
  async function* held(): AsyncGenerator<LedgerEntry> {
    for await (const entry of ledger) if (named.has(entry.customer_id)) yield entry;
  }
  async function* rows(): AsyncGenerator<MemberRecord> {
    for (const [i, customer_id] of ids.entries()) {
      yield { customer_id, group: 'treatment', score: 0, rank: i + 1, entered: day };
    }
  }
  async function* people(): AsyncGenerator<Line> {
    for (const [i, text] of lines.entries()) yield { text, line: i + 1 };
  }
  return desiredItems({
    store,
    audienceId,
    day,
    connector: input.connector,
    config: input.ctx.config,
    mode: input.mode,
    ledger: held(),
    members: { total: ids.length, rows: rows(), close: async () => {} },
    people: people(),
    ...(input.platform ? { platform: input.platform } : {}),
  });
}

function planFields(
  outline: PlanOutline,
  batches: Pick<SyncRunRecord['plan'], 'grouped' | 'remove_batches' | 'add_batches'>,
): SyncRunRecord['plan'] {
  return { ...outline.counts, requests: outline.requests, batch_size: outline.batchSize, ...batches };
}

async function continueRun(input: LockedInput, record: SyncRunRecord, log: Logger): Promise<SyncRunRecord> {
  const { store, connector, ctx, destination, audienceId } = input;
  let state = await readState(store, destination, audienceId);
  if (input.held?.fencingToken !== undefined) record.fencing_token = input.held.fencingToken;
  let finalizing = false;
  try {
    if (!record.platform_audience_id) {
      const resolved = await resolvePlatformAudience(input, record, state, log);
      if (resolved.reset) {
        // The audience was re-created: what the old one held is void, so everyone is added again.
        if (!input.dryRun) await writeLedger(store, destination, audienceId, []);
        const replanned = await storePlan(input, record, { mode: 'diff', ledger: false });
        record.plan = planFields(replanned.outline, replanned.batches);
      }
      state = resolved.state;
      await saveRunRecord(store, record);
    }
    await pushBatches(input, record, log);

    input.onProgress?.({ phase: 'finalize', done: 0, total: 1 });
    await input.held?.confirm();
    finalizing = true;
    // Finalize takes the session it last returned or the one the pushes left, so calling it again
    // is safe (Google: a job already started is polled, not run twice).
    const finalized = await withRetries(
      () =>
        connector.finalize(ctx, {
          audienceId,
          platformAudienceId: record.platform_audience_id!,
          ...(record.session ? { session: record.session } : {}),
          maxWaitMs: input.finalizeWaitMs ?? 0,
        }),
      retryOptions(input, record, log),
    );
    if (finalized.session) record.session = finalized.session;
    record.finalize = {
      status: finalized.status,
      failures: finalized.failures,
      ...(finalized.details ? { details: finalized.details } : {}),
    };
    if (finalized.status === 'pending') {
      await leaveFinalizing(input, record, state);
      return record;
    }
    if (finalized.status === 'failed') {
      record.status = 'failed';
      record.error = {
        kind: 'platform',
        message: `the platform job failed: ${finalized.failures.map((f) => f.message).join('; ')}`,
      };
      record.finished_at = new Date().toISOString();
      await saveRunRecord(store, record);
      return record;
    }
    if (!input.dryRun) {
      await applyConfirmedBatches(store, record, capabilitiesOf(input).requestGroup);
      await writeState(store, {
        ...withoutFinalizing(state!, record.run_id),
        // Only a replace repairs what `needs_replace` distrusts (a targeted run leaves it be).
        needs_replace: record.mode === 'replace' ? false : state?.needs_replace === true,
        ledger_order: 'code_point',
        last_run_id: record.run_id,
        updated_at: new Date().toISOString(),
      });
      // Sizes for the run history; a targeted run (a micro-batch, an erasure) spends no request on it.
      if (record.requests > 0 && !input.only) await describeInto(input, record, log);
    }
    record.status = 'completed';
    record.finished_at = new Date().toISOString();
    // Wall time from the first start, resumed runs included.
    record.timings_ms.total = Date.parse(record.finished_at) - Date.parse(record.started_at);
    if (input.realtimeStats) record.realtime = input.realtimeStats(record);
    await saveRunRecord(store, record);
    // The ledger holds the outcome now; the plan was only needed to resume.
    if (!input.dryRun && record.plan_objects)
      await store.delete([record.plan_objects.removes, record.plan_objects.adds]);
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
    // A platform that stages rows in jobs confirms nothing before finalize, so a failed run would
    // make the next attempt plan and stage everything again, into new jobs (which Google refuses
    // to run, CONCURRENT_MODIFICATION, while the first ones run). A passing failure leaves the
    // run to the next attempt instead: it resumes after the last checkpointed batch, into the
    // same jobs, or finalizes them.
    if (
      isConnectorError(error) &&
      error.retry &&
      !input.dryRun &&
      (finalizing || capabilitiesOf(input).asyncJobs)
    ) {
      if (finalizing) await leaveFinalizing(input, record, state);
      else await saveRunRecord(store, record);
      log.warn(
        { run_id: record.run_id, status: record.status, err: error.toJSON() },
        'failed for now: the next attempt resumes this run',
      );
      throw error;
    }
    await failRun(input, record, state, error);
    throw error;
  }
}

/** The run waits for its staged jobs: the record says so, and the state names it (`finishEarlierRuns`). */
async function leaveFinalizing(
  input: SyncAudienceInput,
  record: SyncRunRecord,
  state: DestinationState | undefined,
): Promise<void> {
  record.status = 'finalizing';
  await saveRunRecord(input.store, record);
  const runs = finalizingRuns(state);
  if (!input.dryRun && state && !runs.includes(record.run_id))
    await writeState(input.store, {
      ...withFinalizingRuns(state, [...runs, record.run_id]),
      updated_at: new Date().toISOString(),
    });
}

/** `state` without run `runId` among those left finalizing (it has completed). */
function withoutFinalizing(state: DestinationState, runId: string): DestinationState {
  return withFinalizingRuns(
    state,
    finalizingRuns(state).filter((id) => id !== runId),
  );
}

async function failRun(
  input: SyncAudienceInput,
  record: SyncRunRecord,
  state: Awaited<ReturnType<typeof readState>>,
  error: unknown,
): Promise<void> {
  const { store } = input;
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
      await writeState(store, { ...state, needs_replace: true, updated_at: record.finished_at });
    } else if (!capabilitiesOf(input).asyncJobs) {
      await applyConfirmedBatches(store, record, capabilitiesOf(input).requestGroup);
    }
  }
  if (error instanceof AudienceGoneError && state && !input.dryRun) {
    await writeState(store, { ...state, platform_audience_gone: true, updated_at: record.finished_at });
  }
  await saveRunRecord(store, record).catch(() => {});
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

/**
 * Says in the run record that this holder stopped because it lost the lock — unless a newer holder
 * (a larger fencing token) has written the record since: that record is the live one, and this
 * holder's copy is stale. (Read, then write: a newer holder that writes in between overwrites this
 * note with its own record at its next checkpoint, which is what it should be.)
 */
async function noteLockLost(input: LockedInput, record: SyncRunRecord, error: LockLostError, log: Logger) {
  try {
    const stored = await readJsonIfExists<SyncRunRecord>(input.store, runRecordKey(record));
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
    await saveRunRecord(input.store, record);
  } catch (writeError) {
    log.warn({ run_id: record.run_id, err: writeError }, 'could not note the lost lock in the run record');
  }
}

function capabilitiesOf(input: SyncAudienceInput): Capabilities {
  return input.capabilities ?? input.connector.capabilities;
}

function batchSizeOf(input: SyncAudienceInput): number {
  return input.batchSize ?? batchSizeFor(capabilitiesOf(input), input.ctx.config);
}
