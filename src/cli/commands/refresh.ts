import type { Command } from 'commander';
import { isDay } from '../../contract/days.js';
import type { RunStatus } from '../../pipeline/flow.js';
import type { RefreshSummary } from '../../pipeline/refresh-inline.js';
import { CliError, EXIT, err, out, outJson } from '../output.js';

interface RefreshOptions {
  date?: string;
  audience?: string[];
  dryRun?: boolean;
  inline?: boolean;
  force?: boolean;
  json?: boolean;
}

export function registerRefreshCommand(program: Command): void {
  program
    .command('refresh')
    .description(
      'run the daily refresh: people → build → sync → measure (queued when Redis answers, else in-process)',
    )
    .option('--date <day>', 'the day to refresh (default: the last complete day in the schedule time zone)')
    .option('--audience <id...>', 'only these audiences (and those they exclude)')
    .option('--dry-run', 'write requests to outbox/ instead of sending them')
    .option('--inline', 'run in this process even when Redis answers')
    .option('--force', 're-run a day that already ran')
    .option('--json', 'print the summary as JSON')
    .action(async (opts: RefreshOptions) => {
      if (opts.date !== undefined && !isDay(opts.date)) {
        throw new CliError(
          `--date must be a day as YYYY-MM-DD, got ${JSON.stringify(opts.date)}`,
          EXIT.usage,
        );
      }
      const { getEnv } = await import('../../config/env.js');
      const { probeRedis } = await import('../../pipeline/redis.js');
      const env = getEnv();
      const queued = !opts.inline && (await probeRedis(env.REDIS_URL));
      if (queued) return followQueued(opts, env.REDIS_URL, env.QUEUE_PREFIX);
      const { runRefreshInline } = await import('../../pipeline/refresh-inline.js');
      const { lastCompleteDayIn } = await import('../../pipeline/stages.js');
      const { openStageContext } = await import('../stage-context.js');
      const { ctx, close } = await openStageContext({ env });
      try {
        const day = opts.date ?? lastCompleteDayIn(ctx.loaded.config.schedule.timezone);
        const summary = await runRefreshInline(ctx, {
          day,
          ...(opts.audience ? { audienceIds: opts.audience } : {}),
          ...(opts.dryRun ? { dryRun: true } : {}),
          ...(opts.force ? { force: true } : {}),
          onStage: (e) => {
            if (opts.json || !process.stderr.isTTY) return;
            if (e.stage === 'sync') {
              if (e.status !== 'started')
                err(
                  `  sync ${e.target.audienceId} → ${e.target.destination}: ${e.status} (${e.done}/${e.total})`,
                );
            } else err(`${e.stage}: ${e.status}`);
          },
        });
        if (opts.json) outJson(summary);
        else printSummary(summary);
        if (!summary.ok) throw new CliError('the refresh finished with failed or blocked syncs', EXIT.failed);
      } finally {
        await close();
      }
    });
}

export function printSummary(s: RefreshSummary): void {
  out(`refresh ${s.day}${s.dry_run ? ' (dry run)' : ''}: ${s.people.people} people in the snapshot`);
  out('');
  out(
    `${'audience'.padEnd(32)} ${'treatment'.padStart(10)} ${'holdout'.padStart(9)} ${'eligible'.padStart(9)}`,
  );
  for (const a of s.audiences) {
    out(
      `${a.id.padEnd(32)} ${String(a.treatment).padStart(10)} ${String(a.holdout).padStart(9)} ${String(a.eligible).padStart(9)}`,
    );
  }
  if (s.syncs.length > 0) {
    out('');
    out(
      `${'sync'.padEnd(44)} ${'status'.padEnd(10)} ${'add'.padStart(7)} ${'remove'.padStart(7)} ${'requests'.padStart(9)}`,
    );
    for (const r of s.syncs) {
      const label = `${r.target.audienceId} → ${r.target.destination}`;
      out(
        `${label.padEnd(44)} ${r.status.padEnd(10)} ${String(r.add ?? '-').padStart(7)} ${String(r.remove ?? '-').padStart(7)} ${String(r.requests ?? '-').padStart(9)}`,
      );
      if (r.error) out(`    ${r.error}`);
    }
  }
  if (s.reports.length > 0) {
    out('');
    for (const r of s.reports)
      out(`lift report ${r.audience}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`);
  }
}

async function followQueued(opts: RefreshOptions, redisUrl: string, prefix: string): Promise<void> {
  const { Queue } = await import('bullmq');
  const { getEnv } = await import('../../config/env.js');
  const { enqueueRefresh, getRunStatus } = await import('../../pipeline/flow.js');
  const { QUEUES } = await import('../../pipeline/queues.js');
  const { createBullConnection } = await import('../../pipeline/redis.js');
  const { lastCompleteDayIn } = await import('../../pipeline/stages.js');
  const { openStageContext } = await import('../stage-context.js');
  const connection = createBullConnection(redisUrl);
  try {
    const env = getEnv();
    const { ctx, close } = await openStageContext({ env, writes: false });
    const day = opts.date ?? lastCompleteDayIn(ctx.loaded.config.schedule.timezone);
    await close();
    const pipeline = { connection, prefix };
    const { runId, created } = await enqueueRefresh(pipeline, {
      day,
      ...(opts.audience ? { audienceIds: opts.audience } : {}),
      ...(opts.dryRun ? { dryRun: true } : {}),
      ...(opts.force ? { attempt: Date.now().toString(36) } : {}),
    });
    if (!opts.json)
      err(created ? `enqueued ${runId}; following it` : `${runId} was already enqueued; following it`);
    // Following a flow no worker will ever pick up would wait forever: say so and stop instead.
    const queue = new Queue(QUEUES.refresh, { connection, prefix });
    const workers = await queue.getWorkersCount().finally(() => queue.close());
    if (workers === 0) {
      throw new CliError(
        `no worker is consuming the queues: ${runId} stays enqueued and runs when \`audience-sync worker\` starts (or run refresh --inline)`,
        EXIT.failed,
      );
    }
    let last = '';
    let status: RunStatus | undefined;
    for (;;) {
      status = await getRunStatus(pipeline, runId);
      if (!status) throw new CliError(`run ${runId} disappeared from the queue`, EXIT.failed);
      const line = status.stages.map((s) => `${s.name}: ${s.state}`).join(', ');
      if (line !== last && !opts.json) err(line);
      last = line;
      if (status.state === 'completed' || status.state === 'failed') break;
      await new Promise((r) => setTimeout(r, 1000));
    }
    if (opts.json) outJson(status);
    else out(`${runId}: ${status.state}`);
    const failedStage = status.stages.some((s) => s.state === 'failed');
    if (status.state !== 'completed' || failedStage)
      throw new CliError(`run ${runId} did not complete cleanly`, EXIT.failed);
  } finally {
    connection.disconnect();
  }
}
