import { Command } from 'commander';

/** The program before any command: its name, description, version and help after errors. */
export function rootProgram(): Command {
  return new Command('audience-sync')
    .description(
      'Customer.io data → suppression lists and top-decile audiences with holdouts → Meta, Google Ads, TikTok',
    )
    .version(process.env.npm_package_version ?? '0.1.0')
    .showHelpAfterError('(run with --help for usage)');
}

type Register = (program: Command) => void;

/**
 * Each command's registration, by name, loaded on demand: when the first argument names a command,
 * `main.ts` registers that one alone instead of importing all twenty command modules with what
 * they import (about 30 modules; each costs Node's module loader about a millisecond). `--help`,
 * `help`, `--version` and anything else build the whole program (`program.ts`). A test checks that
 * this table and `buildProgram` register the same commands.
 */
export const COMMAND_MODULES: Readonly<Record<string, () => Promise<Register>>> = {
  config: async () => (await import('./commands/config.js')).registerConfigCommand,
  compact: async () => (await import('./commands/compact.js')).registerCompactCommand,
  retention: async () => (await import('./commands/retention.js')).registerRetentionCommand,
  build: async () => (await import('./commands/build.js')).registerBuildCommand,
  explain: async () => (await import('./commands/explain.js')).registerExplainCommand,
  sql: async () => (await import('./commands/sql.js')).registerSqlCommand,
  generate: async () => (await import('./commands/generate.js')).registerGenerateCommand,
  lift: async () => (await import('./commands/lift.js')).registerLiftCommand,
  check: async () => (await import('./commands/check.js')).registerCheckCommand,
  serve: async () => (await import('./commands/serve.js')).registerServeCommand,
  export: async () => (await import('./commands/export.js')).registerExportCommand,
  'import-customerio': async () =>
    (await import('./commands/import-customerio.js')).registerImportCustomerIoCommand,
  hash: async () => (await import('./commands/hash.js')).registerHashCommand,
  plan: async () => (await import('./commands/plan-sync.js')).registerPlanCommand,
  sync: async () => (await import('./commands/plan-sync.js')).registerSyncCommand,
  refresh: async () => (await import('./commands/refresh.js')).registerRefreshCommand,
  worker: async () => (await import('./commands/worker.js')).registerWorkerCommand,
  demo: async () => (await import('./commands/demo.js')).registerDemoCommand,
  console: async () => (await import('./commands/console.js')).registerConsoleCommand,
  erase: async () => (await import('./commands/erase.js')).registerEraseCommand,
};

/** The program with only the command named `name` (one of COMMAND_MODULES), or undefined. */
export async function programFor(name: string | undefined): Promise<Command | undefined> {
  if (name === undefined || !Object.hasOwn(COMMAND_MODULES, name)) return undefined;
  const program = rootProgram();
  (await COMMAND_MODULES[name]!())(program);
  return program;
}
