import { FlowProducer, Job, type JobNode, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { log } from '../log.js';
import { logBullErrors } from '../redis/clients.js';
import {
  type CompactJobData,
  QUEUES,
  type RefreshJobData,
  refreshRunId,
  type SyncJobData,
  stageJobId,
} from './queues.js';

/**
 * The daily refresh as a BullMQ flow. A child runs before its parent, so the chain is written
 * leaf-first: compact → people → build → syncs → measure → refresh. The `syncs` step fans out one
 * job per audience × destination when it runs (the audiences come from the config of that moment),
 * and waits for them; a failed sync is recorded but does not stop measurement. A failed compaction
 * does not stop the refresh either: readers take raw parts in either form, so the day is built
 * from whatever is there, and the next run compacts what this one could not.
 */
export interface PipelineConnection {
  connection: Redis;
  prefix: string;
}

/** Keep finished jobs a week: deterministic ids then keep a day from being enqueued twice. */
export const KEEP_JOBS = { removeOnComplete: { age: 7 * 86_400 }, removeOnFail: { age: 14 * 86_400 } };

/** Options of every sync job, whether the refresh fans it out or it is queued on its own. */
export const SYNC_JOB_OPTIONS = {
  attempts: 5,
  backoff: { type: 'exponential', delay: 60_000 },
  ...KEEP_JOBS,
} as const;

/**
 * Runs `work` with a short-lived producer for one queue (closed after): the enqueue functions
 * below, called from the API, the console and the CLI, which hold no queue of their own.
 */
async function withQueue<T>(
  pipeline: PipelineConnection,
  name: string,
  work: (queue: Queue) => Promise<T>,
): Promise<T> {
  const queue = logBullErrors(
    new Queue(name, { connection: pipeline.connection, prefix: pipeline.prefix }),
    pipeline.connection,
    log,
    `queue ${name}`,
  );
  try {
    return await work(queue);
  } finally {
    await queue.close();
  }
}

/**
 * A sync that a guard stopped, queued again with `confirm` on the destination's sync queue (the
 * worker runs it like any sync job; the engine starts a new attempt of the blocked run's base id,
 * plans again and lets that plan through). No build and no measurement: it applies the day the
 * guard judged. The job id is derived from the blocked run, so confirming the same blocked run
 * twice queues one job.
 */
export async function enqueueConfirmedSync(
  pipeline: PipelineConnection,
  blocked: { runId: string; base: string; day: string },
  target: Pick<SyncJobData, 'audienceId' | 'destination' | 'kind'>,
): Promise<{ jobId: string; created: boolean }> {
  const jobId = stageJobId('sync-confirm', blocked.runId, target.audienceId, target.destination, target.kind);
  return withQueue(pipeline, QUEUES.sync(target.destination), async (queue) => {
    if (await Job.fromId(queue, jobId)) return { jobId, created: false };
    const data: SyncJobData = {
      day: blocked.day,
      audienceId: target.audienceId,
      destination: target.destination,
      kind: target.kind,
      runId: blocked.base,
      confirm: true,
    };
    await queue.add('sync', data, { jobId, ...SYNC_JOB_OPTIONS });
    return { jobId, created: true };
  });
}

export async function enqueueRefresh(
  pipeline: PipelineConnection,
  data: RefreshJobData,
): Promise<{ runId: string; created: boolean }> {
  const runId = refreshRunId(data);
  const exists = await withQueue(
    pipeline,
    QUEUES.refresh,
    async (queue) => (await Job.fromId(queue, runId)) !== undefined,
  );
  if (exists) return { runId, created: false };
  const flow = logBullErrors(
    new FlowProducer({ connection: pipeline.connection, prefix: pipeline.prefix }),
    pipeline.connection,
    log,
    'refresh flow',
  );
  const opts = (jobId: string) => ({
    jobId,
    ...KEEP_JOBS,
    attempts: 3,
    backoff: { type: 'exponential', delay: 30_000 },
  });
  try {
    await flow.add({
      name: 'refresh',
      queueName: QUEUES.refresh,
      data: { ...data, runId },
      opts: opts(runId),
      children: [
        {
          name: 'measure',
          queueName: QUEUES.measure,
          data: { ...data, runId },
          opts: { ...opts(stageJobId('measure', runId)), ignoreDependencyOnFailure: true },
          children: [
            {
              name: 'syncs',
              queueName: QUEUES.refresh,
              data: { ...data, runId },
              opts: opts(stageJobId('syncs', runId)),
              children: [
                {
                  name: 'build',
                  queueName: QUEUES.build,
                  data: { ...data, runId },
                  opts: opts(stageJobId('build', runId)),
                  children: [
                    {
                      name: 'people',
                      queueName: QUEUES.people,
                      data: { ...data, runId },
                      opts: opts(stageJobId('people', runId)),
                      children: [
                        {
                          name: 'compact',
                          queueName: QUEUES.compact,
                          data: { day: data.day, runId } satisfies CompactJobData,
                          opts: { ...opts(stageJobId('compact', runId)), ignoreDependencyOnFailure: true },
                        },
                      ],
                    },
                  ],
                },
              ],
            },
          ],
        },
      ],
    });
  } finally {
    await flow.close();
  }
  return { runId, created: true };
}

export type StageState =
  | 'waiting'
  | 'active'
  | 'completed'
  | 'failed'
  | 'delayed'
  | 'waiting-children'
  | 'unknown';

export interface RunStatus {
  id: string;
  state: StageState;
  day: string;
  dry_run: boolean;
  stages: { name: string; id: string; state: StageState; progress: unknown; failed_reason?: string }[];
  result?: unknown;
  failed_reason?: string;
}

/** The flow's current state, stage by stage (sync jobs included), or undefined for an unknown id. */
export async function getRunStatus(
  pipeline: PipelineConnection,
  runId: string,
): Promise<RunStatus | undefined> {
  const flow = logBullErrors(
    new FlowProducer({ connection: pipeline.connection, prefix: pipeline.prefix }),
    pipeline.connection,
    log,
    'refresh flow',
  );
  try {
    const root = await withQueue(pipeline, QUEUES.refresh, (queue) => Job.fromId(queue, runId));
    if (!root) return undefined;
    const tree = await flow.getFlow({
      id: runId,
      queueName: QUEUES.refresh,
      prefix: pipeline.prefix,
      maxChildren: 1000,
    });
    const stages: RunStatus['stages'] = [];
    await collect(tree, stages);
    const rootState = (await tree.job.getState()) as StageState;
    const data = tree.job.data as RefreshJobData;
    return {
      id: runId,
      state: rootState,
      day: data.day,
      dry_run: data.dryRun === true,
      stages: stages.reverse(),
      ...(tree.job.returnvalue ? { result: tree.job.returnvalue } : {}),
      ...(tree.job.failedReason ? { failed_reason: tree.job.failedReason } : {}),
    };
  } finally {
    await flow.close();
  }
}

async function collect(node: JobNode, out: RunStatus['stages']): Promise<void> {
  const job = node.job;
  out.push({
    name: job.name === 'sync' ? `sync ${job.data.audienceId} → ${job.data.destination}` : job.name,
    id: job.id ?? '',
    state: (await job.getState()) as StageState,
    progress: job.progress,
    ...(job.failedReason ? { failed_reason: job.failedReason } : {}),
  });
  for (const child of node.children ?? []) await collect(child, out);
}

/** An erasure job: its data is the erasure id alone (the request itself holds hashes only). */
export interface ErasureJobData {
  erasureId: string;
}

/** Queues an erasure request (docs/privacy.md); the job id is the erasure id, so a repeat adds nothing. */
export async function enqueueErasure(
  pipeline: PipelineConnection,
  erasureId: string,
): Promise<{ created: boolean }> {
  return withQueue(pipeline, QUEUES.erasure, async (queue) => {
    if (await Job.fromId(queue, erasureId)) return { created: false };
    const data: ErasureJobData = { erasureId };
    await queue.add('erasure', data, {
      jobId: erasureId,
      ...KEEP_JOBS,
      attempts: 8,
      backoff: { type: 'exponential', delay: 60_000 },
    });
    return { created: true };
  });
}
