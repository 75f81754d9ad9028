/**
 * Exit codes scripts can rely on, and the one place the CLI writes to the terminal.
 * Machine output (`--json`) goes to stdout alone; messages for people go to stderr.
 */
export const EXIT = {
  ok: 0,
  /** The work ran and failed (a platform error, a failed check). */
  failed: 1,
  /** Wrong usage or configuration: nothing was done. */
  usage: 2,
  /** Stopped by a guard that needs `--confirm`. */
  needsConfirmation: 3,
} as const;

export function out(text: string): void {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function err(text: string): void {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
}

export function outJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** An error the CLI turns into one line on stderr and the given exit code. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}
