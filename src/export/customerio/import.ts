import { hash } from 'node:crypto';
import type { Dataset } from '../../contract/records.js';
import { checkerFor, validateRecord } from '../../ingest/validate-record.js';
import type { Logger } from '../../log.js';
import { SuppressionCache, type SuppressionList } from '../../privacy/suppression.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { PartSet } from '../part-set.js';
import { DeliveryIndex } from './delivery-index.js';
import { ImportState } from './import-state.js';
import {
  type CustomerIoImportConfig,
  defaultImportConfig,
  expectedColumns,
  type FileType,
  fileTypeOf,
} from './mapping.js';
import { openParquet } from './parquet.js';
import {
  type DeliveryFacts,
  deliveryFacts,
  deliveryRecord,
  metricNeedsDelivery,
  metricRecord,
  personRecord,
  pick,
  type Row,
} from './rows.js';

/**
 * Customer.io Data Out import: Parquet files (Deliveries, Metrics, People) in a bucket Customer.io
 * writes to → canonical records in `raw/messages/` and `raw/people/`, through the same contract
 * check as ingest. Rows that cannot be mapped go to `quarantine/` with their file and row number.
 *
 * Rows about an erased person (a late file) are dropped before anything is written, and counted
 * as `suppressed`; the suppression list holds hashes only, and nothing names the person in logs.
 *
 * Re-running is safe: imported files are remembered (by key and size), and part names derive from
 * the file (`part-cio<file id>-<chunk>`), so a file imported twice after a crash overwrites its own
 * parts instead of doubling them.
 */

export interface ImportOptions {
  /** The Data Out bucket / prefix (read only). */
  source: ObjectStore;
  /** Our store: raw partitions, quarantine, import state. */
  store: ObjectStore;
  config?: CustomerIoImportConfig;
  /** Rows per chunk (per part file at most); bounds memory. */
  chunkRows?: number;
  logger?: Logger;
  /**
   * The erased people: their rows are dropped, not imported (counted as `suppressed`). Asked for
   * once per chunk; defaults to reading the list from `store` each time.
   */
  suppression?: { get(): Promise<SuppressionList> };
}

export type FileStatus = 'imported' | 'already_imported' | 'skipped' | 'failed';

export interface ImportFileResult {
  key: string;
  type: FileType | 'unknown';
  status: FileStatus;
  rows: number;
  written: number;
  quarantined: number;
  /** Records (or their quarantine lines) about an erased person, dropped. */
  suppressed: number;
  /** Columns the mapping neither reads nor knowingly ignores: a schema change to look at. */
  unexpected_columns: string[];
  error?: string;
}

export interface ImportResult {
  files: ImportFileResult[];
  imported: number;
  rows: number;
  written: number;
  quarantined: number;
  /** Records of erased people dropped (DESIGN "No resurrection"; docs/sending-data.md). */
  suppressed: number;
  failed: number;
}

const TYPE_ORDER: Readonly<Record<FileType, number>> = { deliveries: 0, metrics: 1, people: 2 };
const DEFAULT_CHUNK_ROWS = 50_000;

export async function importCustomerIo(options: ImportOptions): Promise<ImportResult> {
  const { source, store } = options;
  const config = options.config ?? defaultImportConfig();
  const chunkRows = options.chunkRows ?? DEFAULT_CHUNK_ROWS;
  const sourceId = hash('sha256', source.location).slice(0, 16);
  const state = await ImportState.load(store, sourceId);
  const index = new DeliveryIndex(store, sourceId, config.delivery_index_days);
  const suppression = options.suppression ?? new SuppressionCache(store, 0);

  const listed: { key: string; size: number; lastModified?: Date; type: FileType | undefined }[] = [];
  for await (const info of source.list('')) {
    if (!info.key.toLowerCase().endsWith('.parquet')) continue;
    listed.push({ ...info, type: fileTypeOf(info.key, config) });
  }
  // Deliveries before Metrics, so a metric finds its delivery from the same run.
  listed.sort((a, b) => rank(a.type) - rank(b.type) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const result: ImportResult = {
    files: [],
    imported: 0,
    rows: 0,
    written: 0,
    quarantined: 0,
    suppressed: 0,
    failed: 0,
  };
  const runDeliveries = new Map<string, DeliveryFacts>();
  for (const file of listed) {
    const base: ImportFileResult = {
      key: file.key,
      type: file.type ?? 'unknown',
      status: 'imported',
      rows: 0,
      written: 0,
      quarantined: 0,
      suppressed: 0,
      unexpected_columns: [],
    };
    if (!file.type) {
      result.files.push({ ...base, status: 'skipped' });
      continue;
    }
    if (state.has(file.key, file.size)) {
      result.files.push({ ...base, status: 'already_imported' });
      continue;
    }
    try {
      const done = await importFile(file.type, file, {
        ...options,
        config,
        chunkRows,
        sourceId,
        index,
        runDeliveries,
        suppression,
      });
      Object.assign(base, done);
      state.record({
        key: file.key,
        size: file.size,
        type: file.type,
        imported_at: new Date().toISOString(),
        rows: base.rows,
        written: base.written,
        quarantined: base.quarantined,
        suppressed: base.suppressed,
        unexpected_columns: base.unexpected_columns,
      });
      result.imported += 1;
      result.rows += base.rows;
      result.written += base.written;
      result.quarantined += base.quarantined;
      result.suppressed += base.suppressed;
      if (base.unexpected_columns.length > 0) {
        options.logger?.warn(
          { key: file.key, type: file.type, columns: base.unexpected_columns },
          'customer.io file has columns the mapping does not know',
        );
      }
    } catch (error) {
      // One unreadable file must not stop the others; it stays unimported and is retried next run.
      base.status = 'failed';
      base.error = describe(error);
      result.failed += 1;
      options.logger?.error({ key: file.key, error: base.error }, 'customer.io file import failed');
    }
    result.files.push(base);
  }
  await state.save(new Set(listed.map((f) => f.key)));
  await index.prune();
  return result;
}

interface FileContext extends ImportOptions {
  config: CustomerIoImportConfig;
  chunkRows: number;
  sourceId: string;
  index: DeliveryIndex;
  runDeliveries: Map<string, DeliveryFacts>;
  suppression: { get(): Promise<SuppressionList> };
}

async function importFile(
  type: FileType,
  file: { key: string; size: number; lastModified?: Date },
  ctx: FileContext,
): Promise<Pick<ImportFileResult, 'rows' | 'written' | 'quarantined' | 'suppressed' | 'unexpected_columns'>> {
  const { config } = ctx;
  const parquet = openParquet(await ctx.source.get(file.key));
  const expected = expectedColumns(type, config);
  const unexpected = parquet.columns.filter((c) => !expected.has(c));
  const fileId = hash('sha256', `${ctx.source.location}\n${file.key}\n${file.size}`).slice(0, 16);
  // The file's time, not the clock: a re-import after a crash writes byte-for-byte the same parts.
  const receivedAt = (file.lastModified ?? new Date()).toISOString();
  const dataset: Dataset = type === 'people' ? 'people' : 'messages';
  const check = checkerFor(dataset);
  const fileDeliveries = new Map<string, DeliveryFacts>();
  const counts = { rows: 0, written: 0, quarantined: 0, suppressed: 0 };

  for (let start = 0, chunk = 0; start < parquet.rows; start += ctx.chunkRows, chunk++) {
    const rows = (await parquet.read(start, Math.min(parquet.rows, start + ctx.chunkRows))) as Row[];
    const joined = type === 'metrics' ? await deliveriesFor(rows, ctx) : undefined;
    const parts = new PartSet(dataset, await ctx.suppression.get());
    rows.forEach((row, i) => {
      let loose: Record<string, unknown>;
      if (type === 'deliveries') {
        loose = deliveryRecord(row, config, receivedAt);
        const facts = deliveryFacts(row, config);
        if (facts) {
          fileDeliveries.set(facts.id, facts.facts);
          ctx.runDeliveries.set(facts.id, facts.facts);
        }
      } else if (type === 'metrics') {
        const deliveryId = pick(row, config.metrics.columns.delivery_id);
        loose = metricRecord(
          row,
          config,
          receivedAt,
          deliveryId === undefined ? undefined : joined?.get(String(deliveryId)),
        );
      } else {
        loose = personRecord(row, config, receivedAt);
      }
      const origin = { source_key: file.key, row: start + i };
      for (const line of validateRecord(dataset, check, loose, origin).lines) parts.add(line);
    });
    await parts.write(ctx.store, `cio${fileId}`, String(chunk).padStart(4, '0'));
    counts.rows += rows.length;
    counts.written += parts.counts.written;
    counts.quarantined += parts.counts.quarantined;
    counts.suppressed += parts.counts.suppressed;
  }
  if (type === 'deliveries') await ctx.index.addSegment(receivedAt.slice(0, 10), fileId, fileDeliveries);
  return { ...counts, unexpected_columns: unexpected };
}

/** The deliveries a chunk of Metrics rows needs: from this run first, then from the index. */
async function deliveriesFor(rows: readonly Row[], ctx: FileContext): Promise<Map<string, DeliveryFacts>> {
  const out = new Map<string, DeliveryFacts>();
  const missing = new Set<string>();
  for (const row of rows) {
    if (!metricNeedsDelivery(row, ctx.config)) continue;
    const id = pick(row, ctx.config.metrics.columns.delivery_id);
    if (id === undefined) continue;
    const key = String(id);
    const known = ctx.runDeliveries.get(key);
    if (known) out.set(key, known);
    else missing.add(key);
  }
  for (const [key, facts] of await ctx.index.lookup(missing)) out.set(key, facts);
  return out;
}

function rank(type: FileType | undefined): number {
  return type ? TYPE_ORDER[type] : 99;
}

/** A short reason: parser messages name offsets and codecs, never row values. */
function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return (message.split('\n')[0] ?? '').slice(0, 200);
}
