/** Paths into a YAML document and messages about them, as configuration errors print them. */

/** `['audiences', 0, 'when', 'all', 1]` → `audiences[0].when.all[1]`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${visibleKey(String(part))}` : visibleKey(String(part));
  }
  return out || '(root)';
}

/** A key as it reads in a message; an empty one, or one with spaces around it, in quotes. */
function visibleKey(key: string): string {
  const text = oneLine(key);
  return text === '' || /^\s|\s$/.test(text) ? `"${text}"` : text;
}

/**
 * Keeps a message on one line and every character visible: control characters (a YAML key or
 * value may hold a newline, which zod quotes as it is) are written as escapes, and so are the
 * invisible ones a key can carry from a copy and paste (a byte order mark, zero-width and
 * non-breaking spaces), which would otherwise make `\ufeffvesion` read as `vesion`.
 */
export function oneLine(message: string): string {
  return message.replace(
    // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters replaced
    /[\u0000-\u001f\u007f\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f\u2060\u3000\ufeff]/g,
    (c) => {
      const json = JSON.stringify(c).slice(1, -1);
      return json !== c ? json : `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
    },
  );
}
