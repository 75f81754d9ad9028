import type { z } from 'zod';

/**
 * A configuration problem. The message is one line that names what is wrong (the environment
 * variable or the YAML path), so start-up failures are obvious in any log.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** `['audiences', 0, 'when', 'all', 1]` → `audiences[0].when.all[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${oneLine(String(part))}` : oneLine(String(part));
  }
  return out || '(root)';
}

/** The first zod issue as `path: message`, prefixed with where it came from. */
export function describeZodError(
  error: z.ZodError,
  where: string,
  basePath: readonly PropertyKey[] = [],
): string {
  const issue = error.issues[0];
  if (!issue) return `${where}: invalid`;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more)` : '';
  return oneLine(`${where}: ${formatPath([...basePath, ...issue.path])}: ${issue.message}${more}`);
}

/**
 * Keeps a message on one line: control characters (a YAML key or value may hold a newline, which
 * zod quotes as it is) are written as escapes.
 */
export function oneLine(message: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters replaced
  return message.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
}
