import type { Command } from 'commander';
import { CliError, EXIT } from '../output.js';

/**
 * Commands from DESIGN.md whose capability has not landed yet. They are listed in `--help` so the
 * surface is visible, and say plainly that they are not available instead of pretending to work.
 * Each entry disappears when its command module is registered in `program.ts`.
 */
export const PENDING_COMMANDS: ReadonlyArray<{ name: string; summary: string; lands: string }> = [
  { name: 'serve', summary: 'run the HTTP API', lands: 'the ingest and orchestration issues' },
  { name: 'worker', summary: 'run the BullMQ processors', lands: 'the orchestration issue' },
  {
    name: 'refresh',
    summary: 'run the daily refresh (people, build, sync, measure)',
    lands: 'the orchestration issue',
  },
  { name: 'export', summary: 'drain the ingest buffers into raw partitions', lands: 'the ingest issue' },
  {
    name: 'import-customerio',
    summary: 'import Customer.io Data Out parquet files',
    lands: 'the ingest issue',
  },
  { name: 'build', summary: 'build audience snapshots for a day', lands: 'the audience-engine issue' },
  { name: 'plan', summary: 'show what a sync would change', lands: 'the sync issue' },
  { name: 'sync', summary: 'send audience changes to destinations', lands: 'the sync issue' },
  { name: 'lift', summary: 'holdout-based lift report', lands: 'the lift issue' },
  { name: 'check', summary: 'data-health checks', lands: 'the observability issue' },
  {
    name: 'hash',
    summary: 'normalize and hash one identifier for a platform',
    lands: 'the connectors issue',
  },
  { name: 'generate', summary: 'write a synthetic dataset', lands: 'the audience-engine issue' },
  {
    name: 'demo',
    summary: 'generate data and run a refresh on the embedded store',
    lands: 'the orchestration issue',
  },
];

export function registerPending(program: Command, registered: ReadonlySet<string>): void {
  for (const pending of PENDING_COMMANDS) {
    if (registered.has(pending.name)) continue;
    program
      .command(pending.name)
      .description(`${pending.summary} [not available yet]`)
      .allowUnknownOption(true)
      .allowExcessArguments(true)
      .action(() => {
        throw new CliError(
          `audience-sync ${pending.name} is not available yet: it lands with ${pending.lands}.`,
          EXIT.unavailable,
        );
      });
  }
}
