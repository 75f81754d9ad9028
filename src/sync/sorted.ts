import { compareIds } from '../people/snapshot.js';

/**
 * The sync compares streams sorted by `customer_id` (code point order, as the people snapshot, the
 * SQL engine and the ledger all sort): members, the people snapshot, the ledger and stored plans.
 * A cursor over such a stream holds one item and refuses to go backwards: an out-of-order input
 * would silently turn into wrong adds and removes, so it is an error naming the stream instead.
 */

export class SortOrderError extends Error {
  override readonly name = 'SortOrderError';
  constructor(what: string, position: number) {
    super(
      `${what} is not in customer_id order at item ${position}: it cannot be merged (was it written by another tool?)`,
    );
  }
}

export class SortedCursor<T> {
  /** The current item's id; undefined once the stream is done. */
  id: string | undefined;
  value: T | undefined;
  private position = 0;
  private readonly iterator: AsyncIterator<T>;

  private constructor(
    source: AsyncIterable<T>,
    private readonly idOf: (value: T) => string,
    private readonly what: string,
  ) {
    this.iterator = source[Symbol.asyncIterator]();
  }

  /** A cursor on the first item of `source`. */
  static async open<T>(source: AsyncIterable<T>, idOf: (value: T) => string, what: string) {
    const cursor = new SortedCursor(source, idOf, what);
    await cursor.next();
    return cursor;
  }

  get done(): boolean {
    return this.id === undefined;
  }

  /** Moves to the next item; ids must increase strictly. */
  async next(): Promise<void> {
    const step = await this.iterator.next();
    if (step.done) {
      this.id = undefined;
      this.value = undefined;
      return;
    }
    this.position += 1;
    const id = this.idOf(step.value);
    if (this.id !== undefined && compareIds(this.id, id) >= 0) {
      await this.close();
      throw new SortOrderError(this.what, this.position);
    }
    this.id = id;
    this.value = step.value;
  }

  /** The current value when its id is `id` (and moves past it), else undefined. */
  async take(id: string): Promise<T | undefined> {
    if (this.id !== id) return undefined;
    const value = this.value;
    await this.next();
    return value;
  }

  /** Stops reading the source early (closes its file or connection). */
  async close(): Promise<void> {
    await this.iterator.return?.();
  }
}

/** The smallest current id of several cursors, or undefined when all are done. */
export function smallestId(cursors: readonly { id: string | undefined }[]): string | undefined {
  let min: string | undefined;
  for (const c of cursors)
    if (c.id !== undefined && (min === undefined || compareIds(c.id, min) < 0)) min = c.id;
  return min;
}
