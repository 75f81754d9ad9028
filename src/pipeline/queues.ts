/**
 * Queue names and job ids of the daily refresh. Job ids are deterministic per (day, audience,
 * destination), so enqueuing a day twice adds nothing the second time; BullMQ ids must not
 * contain `:`.
 */
export const QUEUES = {
  refresh: 'refresh',
  /** Compaction of closed days, before the people snapshot and the build. */
  compact: 'compact',
  people: 'people',
  build: 'build',
  /** One queue per destination, so throttling by one platform does not hold back the others. */
  sync: (destination: string) => `sync-${destination}`,
  measure: 'measure',
  /** Erasure requests (docs/privacy.md): one job per request, id = the erasure id. */
  erasure: 'privacy-erasure',
  /** The daily retention sweep (docs/privacy.md). */
  retention: 'retention',
  /** Real-time signals from ingest (docs/operations.md, "Real-time suppression"). */
  realtime: 'realtime',
  /** Real-time micro-batch flushes, one queue per destination so one throttled platform waits alone. */
  realtimeFlush: (destination: string) => `realtime-${destination}`,
  /** Drains of the ingest buffers into raw parts (scheduled, and early when a buffer fills). */
  export: 'export',
  /** Customer.io Data Out imports. */
  import: 'import-customerio',
  /** The scheduled data-health check. */
  health: 'health',
} as const;

/** The queues every deployment has (one list, which the worker, the metrics and the queue dashboard read). */
const SHARED_QUEUES: readonly string[] = [
  QUEUES.refresh,
  QUEUES.compact,
  QUEUES.people,
  QUEUES.build,
  QUEUES.measure,
  QUEUES.erasure,
  QUEUES.retention,
  QUEUES.realtime,
  QUEUES.export,
  QUEUES.import,
  QUEUES.health,
];

/** The queues of one configured destination: its syncs and its real-time flushes. */
function destinationQueues(destination: string): string[] {
  return [QUEUES.sync(destination), QUEUES.realtimeFlush(destination)];
}

/** Every queue of a deployment with these destinations: the shared ones, then each destination's. */
export function queueNames(destinations: readonly string[]): string[] {
  return [...SHARED_QUEUES, ...destinations.flatMap(destinationQueues)];
}

export interface RefreshJobData {
  day: string;
  /** Limits the refresh to these audiences (and what they exclude); all when absent. */
  audienceIds?: string[];
  dryRun?: boolean;
  /** Distinguishes a forced re-run from the day's first run. */
  attempt?: string;
}

/** A compaction step: which refresh it belongs to; the closed days are found when it runs. */
export interface CompactJobData {
  day: string;
  runId: string;
}

export interface SyncJobData {
  day: string;
  audienceId: string;
  destination: string;
  kind: 'audience' | 'write_back';
  dryRun?: boolean;
  /** Base run id of the sync run record (`sync/<destination>/<audience>/runs/<run id>.json`). */
  runId: string;
  /**
   * Let a plan through that a guard stopped (the engine's `confirm`, the CLI's `--confirm`). Set
   * only on a confirmed sync queued on its own (`enqueueConfirmedSync`), never by the refresh.
   */
  confirm?: boolean;
  /**
   * Set by the refresh when its build refused the audience (a score table it reads is stale,
   * missing or lacks a declared column): the build's reason. The job then fails at once with it,
   * never syncing a snapshot of the day an earlier build may have left.
   */
  notBuilt?: string;
}

/** What the build step of a refresh returns: the audiences built, and those it refused with why. */
export interface BuildJobResult {
  audiences: { audience: string; treatment: number; holdout: number }[];
  failed: { audience: string; table: string; reason: string; message: string }[];
}

export function refreshRunId(data: RefreshJobData): string {
  const scope = data.audienceIds?.length ? `-${[...data.audienceIds].sort().join('+')}` : '';
  const dry = data.dryRun ? '-dry' : '';
  const attempt = data.attempt ? `-${data.attempt}` : '';
  return sanitize(`refresh-${data.day}${scope}${dry}${attempt}`);
}

export function stageJobId(stage: string, refreshId: string, ...parts: string[]): string {
  return sanitize([stage, refreshId.replace(/^refresh-/, ''), ...parts].join('-'));
}

/** Ids reach Redis keys and URLs: keep them to a safe alphabet (no `:`). */
function sanitize(id: string): string {
  return id.replace(/[^A-Za-z0-9_.+-]/g, '_');
}
