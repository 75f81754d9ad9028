import { getRunStatus, type PipelineConnection, type RunStatus } from '../../src/pipeline/flow.js';

/**
 * Polls a queued refresh's status until `done` holds (default: the flow finished, completed or
 * failed); on time-out the error lists each stage's state and failure reason.
 */
export async function waitForRun(
  pipeline: PipelineConnection,
  runId: string,
  done: (s: RunStatus) => boolean = (s) => s.state === 'completed' || s.state === 'failed',
  ms = 60_000,
): Promise<RunStatus> {
  const until = Date.now() + ms;
  for (;;) {
    const s = await getRunStatus(pipeline, runId);
    if (s && done(s)) return s;
    if (Date.now() > until)
      throw new Error(
        `timed out; last status ${JSON.stringify(s?.stages.map((x) => [x.name, x.state, x.failed_reason]))}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
