import { hash } from 'node:crypto';
import { accepted, skipped } from '../core/batching.js';
import type {
  ConnectorSession,
  DraftBatch,
  DraftRequest,
  Drafts,
  EnsureAudienceInput,
  IdentifierType,
  JsonValue,
  PushInput,
  ReplaceInput,
  RowResult,
  SyncRow,
} from '../core/types.js';
import { TIKTOK_API_VERSION, type TiktokOptions, tiktokOptionsSchema } from './config.js';

/**
 * TikTok request bodies, pure. Incremental membership goes through the segment mapping API: one
 * inner array per person aligned with `id_schema`, `{}` where the person lacks that identifier.
 * Full replacement goes through the customer-file API: one CSV of hashes per identifier type per
 * batch, then one update whose action is always explicit (REPLACE is TikTok's default).
 */

const BASE = `/open_api/${TIKTOK_API_VERSION}`;

function schemaName(identifier: IdentifierType, options: TiktokOptions): string {
  if (identifier === 'email') return 'EMAIL_SHA256';
  if (identifier === 'phone') return 'PHONE_SHA256';
  return `${options.maid_type}_SHA256`;
}

const ORDER: readonly IdentifierType[] = ['email', 'phone', 'maid'];

export interface MappingBody {
  advertiser_ids: string[];
  action: 'add' | 'delete';
  id_schema: string[];
  batch_data: MappingCell[][];
}

/** One identifier of one person, or `{}` where the person lacks it (keeps `id_schema` aligned). */
export type MappingCell = { id: string; audience_ids: string[] } | Record<string, never>;

export function mappingDraft(options: TiktokOptions, input: PushInput): DraftBatch {
  const columns = ORDER.filter((identifier) => input.rows.some((row) => row.keys[identifier]));
  const body: MappingBody = {
    advertiser_ids: [options.advertiser_id ?? 'ADVERTISER_ID'],
    action: input.op === 'add' ? 'add' : 'delete',
    id_schema: columns.map((c) => schemaName(c, options)),
    batch_data: [],
  };
  const rows: RowResult[] = [];
  for (const row of input.rows) {
    if (!columns.some((c) => row.keys[c])) {
      rows.push(skipped(row.key, 'no_identifiers', 'no email, phone or MAID for TikTok'));
      continue;
    }
    body.batch_data.push(
      columns.map(
        (c): MappingCell =>
          row.keys[c] ? { id: row.keys[c]!, audience_ids: [input.platformAudienceId] } : {},
      ),
    );
    rows.push(accepted(row.key));
  }
  const requests: DraftRequest[] = body.batch_data.length
    ? [{ method: 'POST', path: `${BASE}/segment/mapping/`, body: body as unknown as JsonValue }]
    : [];
  return { requests, rows, ...(input.session ? { session: input.session } : {}) };
}

export function createAudienceDraft(options: TiktokOptions, input: EnsureAudienceInput): DraftRequest {
  return {
    method: 'POST',
    path: `${BASE}/segment/audience/`,
    body: {
      custom_audience_name: input.name,
      advertiser_id: options.advertiser_id ?? 'ADVERTISER_ID',
      action: 'create',
    },
  };
}

export interface ReplaceFile {
  calculateType: string;
  csv: string;
  count: number;
}

/** One CSV (a hash per line) per identifier type, for the customer-file upload. */
export function replaceFiles(
  options: TiktokOptions,
  rows: readonly SyncRow[],
): { files: ReplaceFile[]; rows: RowResult[]; people: number } {
  const byType = new Map<IdentifierType, string[]>();
  const results: RowResult[] = [];
  let people = 0;
  for (const row of rows) {
    const present = ORDER.filter((c) => row.keys[c]);
    if (present.length === 0) {
      results.push(skipped(row.key, 'no_identifiers', 'no email, phone or MAID for TikTok'));
      continue;
    }
    for (const c of present) {
      const list = byType.get(c) ?? [];
      list.push(row.keys[c]!);
      byType.set(c, list);
    }
    people++;
    results.push(accepted(row.key));
  }
  const files = ORDER.filter((c) => byType.has(c)).map((c) => {
    const values = byType.get(c)!;
    return { calculateType: schemaName(c, options), csv: `${values.join('\n')}\n`, count: values.length };
  });
  return { files, rows: results, people };
}

export function md5Hex(content: string): string {
  return hash('md5', content);
}

export function uploadDraft(options: TiktokOptions, file: ReplaceFile, name: string): DraftRequest {
  return {
    method: 'POST',
    path: `${BASE}/dmp/custom_audience/file/upload/`,
    multipart: {
      fields: {
        advertiser_id: options.advertiser_id ?? 'ADVERTISER_ID',
        calculate_type: file.calculateType,
        file_signature: md5Hex(file.csv),
      },
      file: { field: 'file', name, content: file.csv },
    },
  };
}

export function updateDraft(
  options: TiktokOptions,
  audienceId: string,
  filePaths: string[],
  action: 'APPEND' | 'REMOVE' | 'REPLACE',
): DraftRequest {
  return {
    method: 'POST',
    path: `${BASE}/dmp/custom_audience/update/`,
    body: {
      advertiser_id: options.advertiser_id ?? 'ADVERTISER_ID',
      custom_audience_id: audienceId,
      action,
      file_paths: filePaths,
    },
  };
}

export interface TiktokReplaceSession {
  file_paths: string[];
  people: number;
  batch: number;
}

export function tiktokReplaceSession(session: ConnectorSession | undefined): TiktokReplaceSession {
  const s = session?.tiktok_replace as unknown as TiktokReplaceSession | undefined;
  return { file_paths: [...(s?.file_paths ?? [])], people: s?.people ?? 0, batch: s?.batch ?? 0 };
}

export function fileName(input: ReplaceInput, batch: number, calculateType: string): string {
  return `${input.audienceId}-${batch}-${calculateType.toLowerCase()}.csv`;
}

export const tiktokDrafts: Drafts<TiktokOptions> = {
  optionsSchema: tiktokOptionsSchema,
  ensureAudience: (options, input) => [createAudienceDraft(options, input)],
  push: (options, input) => mappingDraft(options, input),
  replace(options, input) {
    const state = tiktokReplaceSession(input.session);
    const planned = replaceFiles(options, input.rows);
    const batch = state.batch + 1;
    const requests = planned.files.map((f) =>
      uploadDraft(options, f, fileName(input, batch, f.calculateType)),
    );
    // Without real uploads there are no file paths; name them after the files for the record.
    const paths = [...state.file_paths, ...planned.files.map((f) => fileName(input, batch, f.calculateType))];
    if (input.last) requests.push(updateDraft(options, input.platformAudienceId, paths, 'REPLACE'));
    const next: TiktokReplaceSession = { file_paths: paths, people: state.people + planned.people, batch };
    return {
      requests,
      rows: planned.rows,
      session: { ...input.session, tiktok_replace: next as unknown as JsonValue },
    };
  },
};
