/**
 * What the snapshot merge needs of an unchanged line — its `customer_id` and whether the person is
 * deleted or unsubscribed — read without parsing it. The merge passes a million unchanged lines
 * through each day; parsing each one was most of a daily snapshot's time.
 *
 * It relies on the form `toSnapshotPerson` writes (merge.ts): `customer_id` first, then the scalar
 * fields, then `consent`, `attributes`, `ts` and the rest: `deleted` and `unsubscribed` are
 * top-level keys before the first nested object. A line in any other form gives undefined, and the
 * caller parses it.
 */

export interface SnapshotLinePeek {
  customer_id: string;
  deleted: boolean;
  unsubscribed: boolean;
}

/**
 * A line is read as text (`charCodeAt`) or as its UTF-8 bytes (the merge holds unchanged lines as
 * bytes and writes them back as they are, never decoding them). Every character the peek looks for
 * is ASCII, and an ASCII byte is that character in UTF-8, so positions found in the bytes are where
 * they are in the text.
 */
interface Form<T extends string | Buffer> {
  codeAt(line: T, i: number): number;
  slice(line: T, from: number, to: number): string;
}

const TEXT: Form<string> = {
  codeAt: (line, i) => line.charCodeAt(i),
  slice: (line, from, to) => line.slice(from, to),
};
const BYTES: Form<Buffer> = {
  codeAt: (line, i) => line[i]!,
  slice: (line, from, to) => line.toString('utf8', from, to),
};

const PREFIX = '{"customer_id":"';
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const TRUE = [0x74, 0x72, 0x75, 0x65];
const DELETED = [...'deleted'].map((c) => c.charCodeAt(0));
const UNSUBSCRIBED = [...'unsubscribed'].map((c) => c.charCodeAt(0));

export function peekSnapshotLine(text: string): SnapshotLinePeek | undefined {
  return peek(text, TEXT);
}

/** The same, of a line's UTF-8 bytes; only the id is decoded. */
export function peekSnapshotBytes(line: Buffer): SnapshotLinePeek | undefined {
  return peek(line, BYTES);
}

/**
 * One pass over the id and the scalar fields after it, up to the first nested object (`consent`,
 * `attributes`: a key there is not the person's). Strings are skipped whole, escapes included, so
 * only a top-level key can match. This replaced a search per marker over the whole line, which was
 * a fifth of a daily snapshot's time (1M lines: 1.9 s of 12.5 s, 2026-12-07).
 */
function peek<T extends string | Buffer>(line: T, form: Form<T>): SnapshotLinePeek | undefined {
  const n = line.length;
  if (n < PREFIX.length) return undefined;
  for (let i = 0; i < PREFIX.length; i++) if (form.codeAt(line, i) !== PREFIX.charCodeAt(i)) return undefined;
  const start = PREFIX.length;
  let end = start;
  for (; end < n; end++) {
    const c = form.codeAt(line, end);
    // An escape inside the id: let JSON.parse read it.
    if (c === BACKSLASH) return undefined;
    if (c === QUOTE) break;
  }
  if (end >= n) return undefined;
  let deleted = false;
  let unsubscribed = false;
  for (let i = end + 1; i < n; i++) {
    const c = form.codeAt(line, i);
    if (c === OPEN_BRACE) break;
    if (c !== QUOTE) continue;
    const close = closingQuote(line, form, i + 1);
    if (close === -1) return undefined;
    // A key (after a comma; a string value comes after a colon) whose value is `true`.
    if (form.codeAt(line, i - 1) === COMMA && followedByTrue(line, form, close)) {
      if (sameCodes(line, form, i + 1, close, DELETED)) deleted = true;
      else if (sameCodes(line, form, i + 1, close, UNSUBSCRIBED)) unsubscribed = true;
    }
    i = close;
  }
  return { customer_id: form.slice(line, start, end), deleted, unsubscribed };
}

// Module-level helpers rather than closures: peek runs once per snapshot line, a million a day.

/** The position of the quote that closes the string whose first character is at `from`, or -1. */
function closingQuote<T extends string | Buffer>(line: T, form: Form<T>, from: number): number {
  for (let i = from; i < line.length; i++) {
    const c = form.codeAt(line, i);
    if (c === BACKSLASH) i += 1;
    else if (c === QUOTE) return i;
  }
  return -1;
}

function followedByTrue<T extends string | Buffer>(line: T, form: Form<T>, quote: number): boolean {
  if (form.codeAt(line, quote + 1) !== COLON) return false;
  for (let k = 0; k < TRUE.length; k++) if (form.codeAt(line, quote + 2 + k) !== TRUE[k]) return false;
  return true;
}

function sameCodes<T extends string | Buffer>(
  line: T,
  form: Form<T>,
  from: number,
  to: number,
  codes: readonly number[],
): boolean {
  if (to - from !== codes.length) return false;
  for (let k = 0; k < codes.length; k++) if (form.codeAt(line, from + k) !== codes[k]) return false;
  return true;
}
