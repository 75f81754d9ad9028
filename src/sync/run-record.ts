import type {
  AudienceDescription,
  ConnectorSession,
  UnattributedFailure,
} from '../../connectors/core/types.js';
import type { DesiredStats } from './desired.js';
import type { GuardViolation } from './guards.js';
import type { PlanCounts, PlanOutline } from './plan.js';

/**
 * `sync/<destination>/<audience>/runs/<run_id>.json`: the plan's counts, every batch with its
 * outcome, and the checkpoint a resumed run continues from. It holds customer ids and codes,
 * never identifiers.
 */
export type RunStatus = 'running' | 'finalizing' | 'completed' | 'failed' | 'blocked';

export interface BatchRecord {
  op: 'add' | 'remove' | 'replace';
  /** Index within its op, in plan order. */
  index: number;
  /** The request group of its rows, when the platform has groups. */
  group?: string;
  rows: number;
  accepted: number;
  rejected: number;
  skipped: number;
  /** Customer ids the platform refused in this batch (they stay out of the ledger and are retried next run). */
  rejected_ids: string[];
  requests: number;
  attempts: number;
  finished_at: string;
}

export interface RunError {
  kind: string;
  code?: string | number;
  message: string;
}

export interface SyncRunRecord {
  run_id: string;
  audience_id: string;
  destination: string;
  connector: string;
  api_version: string;
  day: string;
  /**
   * What started the run when it is not the daily (or a manual) sync: `realtime`, a micro-batch of
   * real-time triggers; `erasure`, an erasure request. Both change only the people they name.
   */
  trigger?: 'realtime' | 'erasure';
  /** Real-time runs: how many signals they carried and how long those took to reach the platform. */
  realtime?: RealtimeRunStats;
  mode: PlanOutline['mode'];
  dry_run: boolean;
  status: RunStatus;
  started_at: string;
  updated_at: string;
  finished_at?: string;
  platform_audience_id?: string;
  audience_created?: boolean;
  plan: PlanCounts & {
    requests: number;
    batch_size: number;
    /**
     * Batches are cut within the platform's request groups (Google's consent states): the batch
     * counts per operation then come from the plan, not from ceil(rows / batch_size).
     */
    grouped?: boolean;
    remove_batches?: number;
    add_batches?: number;
  };
  /**
   * The stored plan the batches are cut from (stored-plan.ts). Absent on runs started by versions
   * that stored one object, `<run>.plan.jsonl.gz`.
   */
  plan_objects?: { removes: string; adds: string };
  members: DesiredStats;
  guards: GuardViolation[];
  batches: BatchRecord[];
  /** Connector state carried across batches (Meta replace session, Google job names). */
  session?: ConnectorSession;
  requests: number;
  /** Row rejections by platform code. */
  rejected_by_code: Record<string, number>;
  /** The first rejections, for people reading the report. */
  rejected_sample: { customer_id: string; op: string; code?: string; reason?: string }[];
  unattributed: UnattributedFailure[];
  finalize?: { status: string; failures: UnattributedFailure[]; details?: ConnectorSession };
  platform?: AudienceDescription;
  /** Share of desired people the platform matched, per identifier type, when it says. */
  match_rate?: number | null;
  retries: number;
  /**
   * Each time an interrupted run was picked up again: the first batch not checkpointed may have
   * reached the platform before the interruption and is sent again (platform adds and removes are
   * idempotent, so a repeat changes nothing there).
   */
  resumed?: { at: string; next_batch: number; possibly_repeated_batches: number }[];
  /**
   * The sync lock's fencing token of the holder that last wrote this record (absent without Redis):
   * a larger token is a later holder.
   */
  fencing_token?: number;
  /**
   * Each time a holder stopped because it lost the sync lock (taken over, deleted, or not renewed in
   * time). It sent nothing after that; the run stays `running` and the next sync resumes it.
   */
  lock_lost?: { at: string; reason: string; next_batch: number; fencing_token?: number }[];
  timings_ms: { plan: number; push: number; total: number };
  error?: RunError;
}

export interface RealtimeRunStats {
  /** People the micro-batch named (after collapsing duplicates). */
  people: number;
  /** Named people the platform audience did not hold (removals) or the snapshot did not know (additions): no request. */
  unresolved: number;
  /** Ingest to platform acknowledgement, over the named people, in milliseconds. */
  lag_ms: { p50: number; p95: number; p99: number; max: number };
}

export const REJECTED_SAMPLE_LIMIT = 200;
