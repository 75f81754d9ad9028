import { readJsonl, writeJsonl } from '../../storage/jsonl.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { ObjectNotFoundError } from '../../storage/object-store.js';

/**
 * Which Data Out files were imported, so a re-run imports nothing twice. Kept in our own store
 * under `imports/customerio/<source id>/`, one line per file. Entries for files that are no longer
 * in the source (Customer.io advises expiring them after loading) are dropped when the state is
 * saved, so the state stays as small as the source.
 */

export interface ImportedFile {
  key: string;
  size: number;
  type: string;
  imported_at: string;
  rows: number;
  written: number;
  quarantined: number;
  /** Absent in entries written before erasures existed. */
  suppressed?: number;
  unexpected_columns: string[];
}

export function importPrefix(sourceId: string): string {
  return `imports/customerio/${sourceId}/`;
}

export class ImportState {
  private constructor(
    private readonly store: ObjectStore,
    private readonly key: string,
    private readonly files: Map<string, ImportedFile>,
  ) {}

  static async load(store: ObjectStore, sourceId: string): Promise<ImportState> {
    const key = `${importPrefix(sourceId)}imported.jsonl.gz`;
    const files = new Map<string, ImportedFile>();
    try {
      for await (const entry of readJsonl<ImportedFile>(store, key)) files.set(entry.key, entry);
    } catch (error) {
      if (!(error instanceof ObjectNotFoundError)) throw error;
    }
    return new ImportState(store, key, files);
  }

  /** Imported before, and unchanged since (same size). */
  has(key: string, size: number): boolean {
    return this.files.get(key)?.size === size;
  }

  get(key: string): ImportedFile | undefined {
    return this.files.get(key);
  }

  record(file: ImportedFile): void {
    this.files.set(file.key, file);
  }

  /** Writes the state, keeping only files still present in the source. */
  async save(present: ReadonlySet<string>): Promise<void> {
    const kept = [...this.files.values()]
      .filter((f) => present.has(f.key))
      .sort((a, b) => (a.key < b.key ? -1 : 1));
    await writeJsonl(this.store, this.key, kept);
  }
}
