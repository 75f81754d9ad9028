/**
 * Per-person state as typed-array columns indexed by a dense person number. Compact (a few bytes
 * per person per feature) and free of per-record allocation. All columns grow together when a
 * record introduces a person the snapshot did not know.
 */

type TypedArray = Uint8Array | Uint32Array | Int32Array | Float64Array;

export interface Column<T extends TypedArray> {
  data: T;
}

export class PersonColumns {
  private capacity: number;
  private readonly columns: { col: Column<TypedArray>; fill: number; make: (n: number) => TypedArray }[] = [];

  constructor(initialCapacity = 1024) {
    this.capacity = Math.max(16, initialCapacity);
  }

  get size(): number {
    return this.capacity;
  }

  u8(): Column<Uint8Array> {
    return this.add((n) => new Uint8Array(n), 0) as Column<Uint8Array>;
  }

  u32(): Column<Uint32Array> {
    return this.add((n) => new Uint32Array(n), 0) as Column<Uint32Array>;
  }

  i32(fill: number): Column<Int32Array> {
    return this.add((n) => new Int32Array(n), fill) as Column<Int32Array>;
  }

  f64(fill: number): Column<Float64Array> {
    return this.add((n) => new Float64Array(n), fill) as Column<Float64Array>;
  }

  /** Makes room for person number `index`. */
  ensure(index: number): void {
    if (index < this.capacity) return;
    let next = this.capacity;
    while (next <= index) next = Math.ceil(next * 1.5);
    for (const c of this.columns) {
      const grown = c.make(next);
      grown.set(c.col.data);
      if (c.fill !== 0) grown.fill(c.fill, this.capacity);
      c.col.data = grown;
    }
    this.capacity = next;
  }

  /** Puts every column back to its initial value (a second scan pass starts from scratch). */
  resetAll(): void {
    for (const c of this.columns) c.col.data.fill(c.fill);
  }

  private add(make: (n: number) => TypedArray, fill: number): Column<TypedArray> {
    const data = make(this.capacity);
    if (fill !== 0) data.fill(fill);
    const col = { data };
    this.columns.push({ col, fill, make });
    return col;
  }
}

/** Dense person numbers for customer ids, plus whether each was in the identity snapshot. */
export class PersonTable {
  readonly ids: string[] = [];
  private readonly index = new Map<string, number>();
  readonly inSnapshot: Column<Uint8Array>;

  constructor(readonly columns: PersonColumns) {
    this.inSnapshot = columns.u8();
  }

  get count(): number {
    return this.ids.length;
  }

  /** The person number of `customerId`, added when new. */
  intern(customerId: string): number {
    let p = this.index.get(customerId);
    if (p === undefined) {
      p = this.ids.length;
      this.ids.push(customerId);
      this.index.set(customerId, p);
      this.columns.ensure(p);
    }
    return p;
  }

  find(customerId: string): number | undefined {
    return this.index.get(customerId);
  }
}
