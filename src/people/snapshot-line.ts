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

const PREFIX = '{"customer_id":"';
const NESTED = [',"consent":{', ',"attributes":{'];

export function peekSnapshotLine(text: string): SnapshotLinePeek | undefined {
  if (!text.startsWith(PREFIX)) return undefined;
  const end = text.indexOf('"', PREFIX.length);
  if (end === -1) return undefined;
  const id = text.slice(PREFIX.length, end);
  // An escape inside the id: let JSON.parse read it.
  if (id.includes('\\')) return undefined;
  let nested = text.length;
  for (const marker of NESTED) {
    const at = text.indexOf(marker, end);
    if (at !== -1 && at < nested) nested = at;
  }
  const flag = (name: string) => {
    const at = text.indexOf(`,"${name}":true`, end);
    return at !== -1 && at < nested;
  };
  return { customer_id: id, deleted: flag('deleted'), unsubscribed: flag('unsubscribed') };
}
