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
    else out += out ? `.${String(part)}` : String(part);
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
  return `${where}: ${formatPath([...basePath, ...issue.path])}: ${issue.message}${more}`;
}
