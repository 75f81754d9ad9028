import { accepted, skipped } from '../core/batching.js';
import { sha256Hex } from '../core/normalize.js';
import type {
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
import { META_API_VERSION, type MetaOptions, metaOptionsSchema } from './config.js';
import { META_KEY_BY_IDENTIFIER } from './keys.js';

/**
 * Meta request bodies, pure. Add and remove share the multi-key payload
 * `{schema: [...], data: [[...], ...]}` (missing values as ""); removals go as DELETE with the
 * payload in the body, never in the query string (10,000 rows do not fit in a URL).
 */

export interface MetaPayload {
  schema: string[];
  data: JsonValue[][];
}

export interface DraftedPayload {
  payload: MetaPayload;
  /** Rows in `payload.data` order (index i of data is sent[i]). */
  sent: SyncRow[];
  /** For each sent row, its index in the input (and in `rows`). */
  sentIndex: number[];
  rows: RowResult[];
}

const US_HASH = sha256Hex('us');

export function metaPayload(options: MetaOptions, rows: readonly SyncRow[]): DraftedPayload {
  const columns = new Set<IdentifierType>();
  for (const row of rows) {
    for (const [identifier] of META_KEY_BY_IDENTIFIER) {
      if (row.keys[identifier] && (identifier !== 'external_id' || options.send_extern_id))
        columns.add(identifier);
    }
  }
  const ordered = META_KEY_BY_IDENTIFIER.filter(([identifier]) => columns.has(identifier));
  const ldu = options.limited_data_use || (options.limited_data_use_states?.length ?? 0) > 0;
  const lduStates = options.limited_data_use_states?.length
    ? new Set(options.limited_data_use_states.map((s) => sha256Hex(s.toLowerCase())))
    : undefined;
  const schema = ordered.map(([, key]) => key);
  if (ldu) schema.push('DATA_PROCESSING_OPTIONS');
  const data: JsonValue[][] = [];
  const sent: SyncRow[] = [];
  const sentIndex: number[] = [];
  const results: RowResult[] = [];
  for (const [index, row] of rows.entries()) {
    const cells: JsonValue[] = ordered.map(([identifier]) => row.keys[identifier] ?? '');
    if (!cells.some((c) => c !== '')) {
      results.push(skipped(row.key, 'no_identifiers', 'no identifier Meta can match on'));
      continue;
    }
    if (ldu) cells.push(limitedDataUse(row, lduStates) ? ['LDU'] : []);
    data.push(cells);
    sent.push(row);
    sentIndex.push(index);
    results.push(accepted(row.key));
  }
  return { payload: { schema, data }, sent, sentIndex, rows: results };
}

/** LDU for every row, or (with a state list) for US rows in those states, matched by hash. */
function limitedDataUse(row: SyncRow, states: ReadonlySet<string> | undefined): boolean {
  if (!states) return true;
  const region = row.keys.region;
  const country = row.keys.country;
  return region !== undefined && states.has(region) && (country === undefined || country === US_HASH);
}

export function createAudienceDraft(options: MetaOptions, input: EnsureAudienceInput): DraftRequest {
  return {
    method: 'POST',
    path: `/${META_API_VERSION}/${options.ad_account_id ?? 'act_AD_ACCOUNT_ID'}/customaudiences`,
    body: {
      name: input.name,
      subtype: 'CUSTOM',
      description: input.description ?? `audience-sync: ${input.audienceId}`,
      customer_file_source: options.customer_file_source,
    },
  };
}

export function usersDraft(
  platformAudienceId: string,
  op: 'add' | 'remove',
  payload: MetaPayload,
): DraftRequest {
  return {
    method: op === 'add' ? 'POST' : 'DELETE',
    path: `/${META_API_VERSION}/${platformAudienceId}/users`,
    body: { payload: payload as unknown as JsonValue },
  };
}

export interface MetaReplaceSession {
  session_id: number;
  batch_seq: number;
}

/** The replace session carried between batches: Meta wants a client-chosen id and a 1-based sequence. */
export function nextReplaceSession(session: PushInput['session']): MetaReplaceSession {
  const previous = session?.meta_replace as { session_id?: number; batch_seq?: number } | undefined;
  if (previous && typeof previous.session_id === 'number' && typeof previous.batch_seq === 'number') {
    return { session_id: previous.session_id, batch_seq: previous.batch_seq + 1 };
  }
  // Any positive 53-bit integer: JSON-safe, and unique enough per audience and run.
  return { session_id: Math.floor(Math.random() * 2 ** 52) + 1, batch_seq: 1 };
}

export function replaceDraft(
  input: ReplaceInput,
  payload: MetaPayload,
  replaceSession: MetaReplaceSession,
): DraftRequest {
  return {
    method: 'POST',
    path: `/${META_API_VERSION}/${input.platformAudienceId}/usersreplace`,
    body: {
      payload: payload as unknown as JsonValue,
      session: {
        session_id: replaceSession.session_id,
        batch_seq: replaceSession.batch_seq,
        last_batch_flag: input.last,
        estimated_num_total: input.estimatedTotal,
      },
    },
  };
}

export const metaDrafts: Drafts<MetaOptions> = {
  optionsSchema: metaOptionsSchema,
  ensureAudience: (options, input) => [createAudienceDraft(options, input)],
  push(options, input): DraftBatch {
    const drafted = metaPayload(options, input.rows);
    const requests = drafted.sent.length
      ? [usersDraft(input.platformAudienceId, input.op, drafted.payload)]
      : [];
    return { requests, rows: drafted.rows };
  },
  replace(options, input): DraftBatch {
    const drafted = metaPayload(options, input.rows);
    const replaceSession = nextReplaceSession(input.session);
    return {
      requests: [replaceDraft(input, drafted.payload, replaceSession)],
      rows: drafted.rows,
      session: { ...input.session, meta_replace: { ...replaceSession } },
    };
  },
};
