/**
 * Timings shared by the suite and its worker process. BullMQ leases are short so a killed worker's
 * jobs are taken over in about two seconds (production: 30 s); platform-requested waits are capped
 * so a storm costs seconds, not the minutes a real platform asks for.
 */

/** Job lease and stalled-job check of workers that get killed (and of the ones that take over). */
export const KILL_WORKER_TIMINGS = { lockDurationMs: 1500, stalledIntervalMs: 500 } as const;

/** Workers of the Redis / S3 / platform episodes: a 4 s blackhole outlasts this lease on purpose. */
export const FAULT_WORKER_TIMINGS = { lockDurationMs: 3000, stalledIntervalMs: 1000 } as const;

/** Records per export chunk: small, so one export writes many parts and has many kill points. */
export const EXPORT_CHUNK_RECORDS = 8;

/** The export's per-dataset lease: a killed export frees it after this long. */
export const EXPORT_LEASE_MS = 3000;

/** In-process retry waits (platform throttling and 5xx backoff), capped at 200 ms. */
export function shortSleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.min(ms, 200)));
}
