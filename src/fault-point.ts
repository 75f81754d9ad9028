/**
 * Fault injection for crash tests: `AUDIENCE_SYNC_FAULT=compaction:after-manifest-write` (or
 * `erasure:after-resolved`, …) makes the process kill itself (SIGKILL: no cleanup, no finally blocks) when it reaches that named point, so
 * a test can check what a rerun makes of the state a real crash leaves. Unset (always, outside
 * tests), a fault point does nothing.
 */
export function faultPoint(name: string): void {
  if (process.env.AUDIENCE_SYNC_FAULT === name) process.kill(process.pid, 'SIGKILL');
}
