import type { z } from 'zod';
import { formatPath, oneLine } from '../contract/yaml-path.js';

/**
 * A configuration problem. The message is one line that names what is wrong (the environment
 * variable or the YAML path), so start-up failures are obvious in any log.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
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
