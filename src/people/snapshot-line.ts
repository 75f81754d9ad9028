/**
 * What the snapshot merge needs of an unchanged line — its `customer_id` and whether the person is
 * deleted or unsubscribed — read without parsing it. The merge passes a million unchanged lines
 * through each day; parsing each one was most of a daily snapshot's time.
 *
 * It relies on the form `toSnapshotPerson` writes (merge.ts): `customer_id` first, then the scalar
 * fields, then `consent`, `attributes`, `ts` and the rest. Inside a JSON string every quote is
 * escaped, so `,"deleted":true` can only be a key and its value, and it is a top-level one when it
 * comes before the first nested object. A line in any other form gives undefined, and the caller
 * parses it.
 */

export interface SnapshotLinePeek {
  customer_id: string;
  deleted: boolean;
  unsubscribed: boolean;
}

/**
 * The markers, as text for a decoded line and as UTF-8 bytes for a line the merge holds as bytes
 * (and writes back as they are, never decoding it). A quote or backslash byte is that character in
 * UTF-8, so every position found in the bytes is where it is in the text.
 */
interface Form<T extends string | Buffer> {
  prefix: T;
  quote: T;
  backslash: T;
  nested: T[];
  deleted: T;
  unsubscribed: T;
  slice(line: T, from: number, to: number): string;
}

const markers = [
  '{"customer_id":"',
  '"',
  '\\',
  ',"consent":{',
  ',"attributes":{',
  ',"deleted":true',
  ',"unsubscribed":true',
];
const formOf = <T extends string | Buffer>(
  encode: (m: string) => T,
  slice: (line: T, from: number, to: number) => string,
): Form<T> => {
  const [prefix, quote, backslash, consent, attributes, deleted, unsubscribed] = markers.map(encode) as T[];
  return {
    prefix: prefix!,
    quote: quote!,
    backslash: backslash!,
    nested: [consent!, attributes!],
    deleted: deleted!,
    unsubscribed: unsubscribed!,
    slice,
  };
};
const TEXT = formOf<string>(
  (m) => m,
  (line, from, to) => line.slice(from, to),
);
const BYTES = formOf<Buffer>(
  (m) => Buffer.from(m),
  (line, from, to) => line.toString('utf8', from, to),
);

export function peekSnapshotLine(text: string): SnapshotLinePeek | undefined {
  return peek(text, TEXT);
}

/** The same, of a line's UTF-8 bytes; only the id is decoded. */
export function peekSnapshotBytes(line: Buffer): SnapshotLinePeek | undefined {
  return peek(line, BYTES);
}

function peek<T extends string | Buffer>(line: T, form: Form<T>): SnapshotLinePeek | undefined {
  if (line.lastIndexOf(form.prefix as never, 0) !== 0) return undefined;
  const start = form.prefix.length;
  const end = find(line, form.quote, start);
  if (end === -1) return undefined;
  // An escape inside the id: let JSON.parse read it.
  const backslash = find(line, form.backslash, start);
  if (backslash !== -1 && backslash < end) return undefined;
  let nested = line.length;
  for (const marker of form.nested) {
    const at = find(line, marker, end);
    if (at !== -1 && at < nested) nested = at;
  }
  return {
    customer_id: form.slice(line, start, end),
    deleted: before(line, form.deleted, end, nested),
    unsubscribed: before(line, form.unsubscribed, end, nested),
  };
}

// Module-level helpers rather than closures: peek runs once per snapshot line, a million a day.

/** Both forms search alike; each needle has its line's type. */
function find<T extends string | Buffer>(line: T, needle: T, from: number): number {
  return (line as Buffer).indexOf(needle as Buffer, from);
}

/** Whether `needle` occurs from `from` on, before `limit`. */
function before<T extends string | Buffer>(line: T, needle: T, from: number, limit: number): boolean {
  const at = find(line, needle, from);
  return at !== -1 && at < limit;
}
