import type { Command } from 'commander';
import { registerBuildCommand } from './commands/build.js';
import { registerCheckCommand } from './commands/check.js';
import { registerCompactCommand } from './commands/compact.js';
import { registerConfigCommand } from './commands/config.js';
import { registerConsoleCommand } from './commands/console.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerEraseCommand } from './commands/erase.js';
import { registerExplainCommand } from './commands/explain.js';
import { registerExportCommand } from './commands/export.js';
import { registerGenerateCommand } from './commands/generate.js';
import { registerHashCommand } from './commands/hash.js';
import { registerImportCustomerIoCommand } from './commands/import-customerio.js';
import { registerLiftCommand } from './commands/lift.js';
import { registerPlanCommand, registerSyncCommand } from './commands/plan-sync.js';
import { registerRefreshCommand } from './commands/refresh.js';
import { registerRetentionCommand } from './commands/retention.js';
import { registerServeCommand } from './commands/serve.js';
import { registerSqlCommand } from './commands/sql.js';
import { registerWorkerCommand } from './commands/worker.js';
import { rootProgram } from './root.js';

/**
 * The whole command tree; `main.ts` runs it for `--help` and anything that names no command (one
 * command alone otherwise: `root.ts`), tests call it with their own argv. Registering a command
 * loads only its names, options and help text: each action imports what it needs when it runs, so
 * `--help` and the light commands (`hash`, `config`) start without the engine, Redis, HTTP or
 * storage modules.
 */
export function buildProgram(): Command {
  const program = rootProgram();
  // Each capability registers its commands here.
  registerConfigCommand(program);
  registerCompactCommand(program);
  registerRetentionCommand(program);
  registerBuildCommand(program);
  registerExplainCommand(program);
  registerSqlCommand(program);
  registerGenerateCommand(program);
  registerLiftCommand(program);
  registerCheckCommand(program);
  registerServeCommand(program);
  registerExportCommand(program);
  registerImportCustomerIoCommand(program);
  registerHashCommand(program);
  registerPlanCommand(program);
  registerSyncCommand(program);
  registerRefreshCommand(program);
  registerWorkerCommand(program);
  registerDemoCommand(program);
  registerConsoleCommand(program);
  registerEraseCommand(program);
  return program;
}
