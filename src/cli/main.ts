import { CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { setRootLogSettings } from '../log-settings.js';
import { CliError, EXIT, err } from './output.js';
import { programFor } from './root.js';

/** Runs the CLI and maps failures to one line on stderr and a reliable exit code. */
export async function runCli(argv: string[]): Promise<number> {
  // Services log at info; one-shot commands print their own summary and log only warnings,
  // unless LOG_LEVEL says otherwise.
  const service = ['serve', 'worker'].includes(argv[0] ?? '');
  // A command named first loads alone; `--help` and the rest load the whole tree.
  const program = (await programFor(argv[0])) ?? (await import('./program.js')).buildProgram();
  // The logger (pino) loads only when something logs: `--help`, usage errors and commands such as
  // `config` or `hash` never load it. For one-shot commands, stdout belongs to the command's output
  // (`--json` included): logs go to stderr.
  if (!service) setRootLogSettings({ level: 'warn', destination: 'stderr' });
  program.exitOverride();
  program.configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // --help and --version end through here with exit code 0.
      return error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof ConfigError) {
      err(`error: ${error.message}`);
      return EXIT.usage;
    }
    if (error instanceof CliError) {
      err(`error: ${error.message}`);
      return error.exitCode;
    }
    err(`error: ${error instanceof Error ? error.message : String(error)}`);
    return EXIT.failed;
  }
}

const code = await runCli(process.argv.slice(2));
process.exitCode = code;
