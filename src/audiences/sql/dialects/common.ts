/**
 * Pieces the warehouse dialects share: JSON paths split at array indexes, and the type of a JSON
 * value read from its canonical text.
 */

/** A path segment that may be an array index as well as an object key (`items.0.price`). */
function isIndexSegment(segment: string): boolean {
  return /^(0|[1-9][0-9]{0,8})$/.test(segment);
}

/**
 * The value at `path` inside `json`, as `extract(json, keys)` over runs of object keys, and
 * `either(json, index)` for a segment that is an index in an array and a key in an object (the
 * language reads `a.0` as `a["0"]`, which JavaScript resolves on both).
 */
export function chainPath(
  json: string,
  path: readonly string[],
  extract: (json: string, keys: readonly string[]) => string,
  either: (json: string, index: string) => string,
): string {
  let expr = json;
  let keys: string[] = [];
  for (const segment of path) {
    if (isIndexSegment(segment)) {
      if (keys.length > 0) expr = extract(expr, keys);
      keys = [];
      expr = either(expr, segment);
    } else {
      keys.push(segment);
    }
  }
  return keys.length > 0 ? extract(expr, keys) : expr;
}

/**
 * The normalized kind of a JSON value from its canonical JSON text (no leading whitespace, as the
 * engines serialize an extracted value): by its first character.
 */
export function kindFromText(text: string, first: (text: string) => string): string {
  return (
    `CASE WHEN ${text} IS NULL THEN NULL ELSE CASE ${first(text)} WHEN '"' THEN 'STRING' ` +
    `WHEN 't' THEN 'BOOLEAN' WHEN 'f' THEN 'BOOLEAN' WHEN 'n' THEN 'NULL' WHEN '{' THEN 'OTHER' ` +
    `WHEN '[' THEN 'OTHER' ELSE 'NUMBER' END END`
  );
}

/** `(?:…)` groups as plain groups, for POSIX engines (the same matches; no captures are used). */
export function posixGroups(pattern: string): string {
  return pattern.replaceAll('(?:', '(');
}

/**
 * A string literal with backslash escapes (BigQuery, Snowflake): backslash, the quote and control
 * characters escaped, everything else as is.
 */
export function backslashString(value: string, quote: 'doubled' | 'escaped'): string {
  let out = '';
  for (const ch of value) {
    const code = ch.codePointAt(0)!;
    if (ch === '\\') out += '\\\\';
    else if (ch === "'") out += quote === 'doubled' ? "''" : "\\'";
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || code === 0x7f) out += `\\x${code.toString(16).padStart(2, '0')}`;
    else out += ch;
  }
  return `'${out}'`;
}
