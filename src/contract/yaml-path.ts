/** Paths into a YAML document and messages about them, as configuration errors print them. */

/** `['audiences', 0, 'when', 'all', 1]` → `audiences[0].when.all[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${oneLine(String(part))}` : oneLine(String(part));
  }
  return out || '(root)';
}

/**
 * Keeps a message on one line: control characters (a YAML key or value may hold a newline, which
 * zod quotes as it is) are written as escapes.
 */
export function oneLine(message: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters replaced
  return message.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => JSON.stringify(c).slice(1, -1));
}
