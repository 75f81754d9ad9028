/**
 * How the process-wide logger should behave, chosen before the logger (pino, about 30 ms to load)
 * is needed: the CLI sets these for every command, and `src/log.ts` applies them when it loads and
 * again whenever they change. A command that never logs then never loads pino.
 */
export interface RootLogSettings {
  /** The root logger's level, when LOG_LEVEL does not set it. */
  level?: string;
  /** Where loggers without their own destination write. */
  destination?: 'stdout' | 'stderr';
}

let settings: RootLogSettings = {};
let apply: ((settings: RootLogSettings) => void) | undefined;

export function setRootLogSettings(next: RootLogSettings): void {
  settings = { ...settings, ...next };
  apply?.(settings);
}

/** For `src/log.ts`: `fn` gets the settings now and after every change. */
export function onRootLogSettings(fn: (settings: RootLogSettings) => void): void {
  apply = fn;
  fn(settings);
}
