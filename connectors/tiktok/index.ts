import { assertBatchSize, batchSizeFor } from '../core/batching.js';
import { InvalidPayloadError, PlatformError } from '../core/errors.js';
import { asObject, draftUrl, jsonSafe, sendHttp } from '../core/http.js';
import { compareNumericIds, serialized } from '../core/locks.js';
import { retryingRequest } from '../core/retry.js';
import type {
  AudienceDescription,
  Capabilities,
  ConnectorContext,
  ConnectorDefinition,
  DraftRequest,
  EnsureAudienceInput,
  EnsureAudienceResult,
  JsonValue,
  PushInput,
  PushResult,
  ReplaceInput,
} from '../core/types.js';
import {
  TIKTOK_API_VERSION,
  TIKTOK_MAX_BATCH,
  TIKTOK_MIN_AUDIENCE,
  type TiktokConfig,
  tiktokConfigSchema,
} from './config.js';
import {
  createAudienceDraft,
  fileName,
  mappingDraft,
  replaceFiles,
  type TiktokReplaceSession,
  tiktokDrafts,
  tiktokReplaceSession,
  updateDraft,
  uploadDraft,
} from './drafts.js';
import { classifyTiktok, type TiktokEnvelope } from './errors.js';
import { TIKTOK_IDENTIFIER_TYPES, tiktokMatchKeys } from './keys.js';

/**
 * TikTok custom audiences over the Business API v1.3 (Access-Token header, `code === 0` means
 * success). Incremental adds / deletes use the segment mapping API; full replacement uses the
 * customer-file API with an explicit REPLACE action.
 */

type Ctx = ConnectorContext<TiktokConfig>;

export const TIKTOK_CAPABILITIES: Capabilities = {
  maxBatchSize: TIKTOK_MAX_BATCH,
  identifierTypes: TIKTOK_IDENTIFIER_TYPES,
  addsAndRemovesShareRequest: false,
  asyncJobs: false,
  minAudienceSize: TIKTOK_MIN_AUDIENCE,
  replaceStrategy: 'file_replace',
};

async function call(
  ctx: Ctx,
  draft: DraftRequest,
  what: string,
  audienceId?: string,
): Promise<Record<string, unknown>> {
  // Retried here, request by request, when the sync asks for it (ctx.retry: ensureAudience, describe).
  return retryingRequest(ctx, async () => {
    let form: FormData | undefined;
    if (draft.multipart) {
      form = new FormData();
      for (const [k, v] of Object.entries(draft.multipart.fields)) form.set(k, v);
      form.set(
        draft.multipart.file.field,
        new Blob([draft.multipart.file.content], { type: 'text/csv' }),
        draft.multipart.file.name,
      );
    }
    const response = await sendHttp(ctx, 'tiktok', {
      method: draft.method,
      url: draftUrl(ctx.urls.api!, draft),
      headers: { 'access-token': ctx.config.access_token },
      ...(form ? { form } : draft.body !== undefined ? { json: draft.body } : {}),
    });
    const envelope = asObject(response.json) as TiktokEnvelope | undefined;
    // Success is the code in the body, not the HTTP status.
    if (response.status >= 200 && response.status < 300 && envelope?.code === 0)
      return asObject(envelope.data) ?? {};
    throw classifyTiktok(response, envelope, what, ctx.config.throttle_delay_seconds * 1000, audienceId);
  });
}

const BASE = `/open_api/${TIKTOK_API_VERSION}`;

async function audiencesNamed(ctx: Ctx, name: string): Promise<string[]> {
  const ids: string[] = [];
  for (let page = 1; page <= 200; page++) {
    const data = await call(
      ctx,
      {
        method: 'GET',
        path: `${BASE}/dmp/custom_audience/list/`,
        query: { advertiser_id: ctx.config.advertiser_id, page: String(page), page_size: '100' },
      },
      'audience search',
    );
    const list = Array.isArray(data.list) ? data.list : [];
    for (const entry of list) {
      const a = asObject(entry);
      if (a?.name === name && (typeof a.audience_id === 'string' || typeof a.audience_id === 'number'))
        ids.push(String(a.audience_id));
    }
    const totalPage = Number(asObject(data.page_info)?.total_page ?? 1);
    if (page >= totalPage) break;
  }
  return ids.sort(compareNumericIds);
}

async function describe(ctx: Ctx, platformAudienceId: string): Promise<AudienceDescription> {
  const data = await call(
    ctx,
    {
      method: 'GET',
      path: `${BASE}/dmp/custom_audience/get/`,
      query: {
        advertiser_id: ctx.config.advertiser_id,
        custom_audience_ids: JSON.stringify([platformAudienceId]),
      },
    },
    'audience lookup',
    platformAudienceId,
  );
  const entry = asObject(Array.isArray(data.list) ? data.list[0] : undefined);
  const details = asObject(entry?.audience_details) ?? entry;
  if (!details) {
    throw classifyTiktok(
      { status: 200, headers: new Headers(), text: '', json: undefined },
      { code: 40002, message: 'audience does not exist' },
      'audience lookup',
      0,
      platformAudienceId,
    );
  }
  const cover = typeof details.cover_num === 'number' ? details.cover_num : null;
  return {
    platformAudienceId,
    ...(typeof details.name === 'string' ? { name: details.name } : {}),
    size: cover,
    matchRate: null,
    ...(details.is_valid !== undefined ? { status: details.is_valid ? 'valid' : 'not valid' } : {}),
    raw: { audience: jsonSafe(details) as JsonValue },
  };
}

async function ensureAudience(ctx: Ctx, input: EnsureAudienceInput): Promise<EnsureAudienceResult> {
  return serialized(`tiktok:${ctx.config.advertiser_id}:${input.name}`, async () => {
    const existing = await audiencesNamed(ctx, input.name);
    if (existing[0]) return { platformAudienceId: existing[0], created: false };
    const data = await call(ctx, createAudienceDraft(ctx.config, input), 'audience creation');
    const id = data.audience_id;
    if (typeof id !== 'string' && typeof id !== 'number')
      throw new PlatformError('TikTok created an audience but returned no id', { connector: 'tiktok' });
    const created = String(id);
    // TikTok does not keep names unique: the smallest id wins, a duplicate we made is deleted.
    const now = await audiencesNamed(ctx, input.name);
    const winner = now[0] ?? created;
    if (winner !== created) {
      await call(
        ctx,
        {
          method: 'POST',
          path: `${BASE}/dmp/custom_audience/delete/`,
          body: { advertiser_id: ctx.config.advertiser_id, custom_audience_ids: [created] },
        },
        'duplicate audience removal',
      );
      return { platformAudienceId: winner, created: false };
    }
    return { platformAudienceId: created, created: true };
  });
}

async function push(ctx: Ctx, input: PushInput): Promise<PushResult> {
  assertBatchSize('tiktok', input.rows, batchSizeFor(TIKTOK_CAPABILITIES, ctx.config));
  const drafted = mappingDraft(ctx.config, input);
  for (const draft of drafted.requests) {
    await call(
      ctx,
      draft,
      input.op === 'add' ? 'adding people' : 'deleting people',
      input.platformAudienceId,
    );
  }
  return {
    rows: drafted.rows,
    unattributed: [],
    requests: drafted.requests.length,
    ...(input.session ? { session: input.session } : {}),
  };
}

async function replace(ctx: Ctx, input: ReplaceInput): Promise<PushResult> {
  assertBatchSize('tiktok', input.rows, batchSizeFor(TIKTOK_CAPABILITIES, ctx.config));
  const state = tiktokReplaceSession(input.session);
  const planned = replaceFiles(ctx.config, input.rows);
  const batch = state.batch + 1;
  let requests = 0;
  const paths = [...state.file_paths];
  for (const file of planned.files) {
    const data = await call(
      ctx,
      uploadDraft(ctx.config, file, fileName(input, batch, file.calculateType)),
      'uploading the customer file',
      input.platformAudienceId,
    );
    requests++;
    if (typeof data.file_path !== 'string')
      throw new PlatformError('TikTok accepted a file but returned no file_path', { connector: 'tiktok' });
    paths.push(data.file_path);
  }
  const next: TiktokReplaceSession = { file_paths: paths, people: state.people + planned.people, batch };
  if (input.last) {
    // TikTok refuses updates that leave fewer than 1,000 people; say so before asking it.
    if (next.people < TIKTOK_MIN_AUDIENCE) {
      throw new InvalidPayloadError(
        `TikTok refuses a replacement that leaves fewer than ${TIKTOK_MIN_AUDIENCE} people (this one has ${next.people}); sync incrementally instead`,
        { connector: 'tiktok' },
      );
    }
    await call(
      ctx,
      updateDraft(ctx.config, input.platformAudienceId, paths, 'REPLACE'),
      'replacing the audience',
      input.platformAudienceId,
    );
    requests++;
  }
  return {
    rows: planned.rows,
    unattributed: [],
    requests,
    session: { ...input.session, tiktok_replace: next as unknown as JsonValue },
  };
}

export const tiktokConnector: ConnectorDefinition<TiktokConfig> = {
  id: 'tiktok',
  title: 'TikTok custom audiences',
  apiVersion: TIKTOK_API_VERSION,
  configSchema: tiktokConfigSchema,
  secretFields: ['access_token'],
  endpoints: { api: { env: 'TIKTOK_API_URL', default: 'https://business-api.tiktok.com' } },
  capabilities: TIKTOK_CAPABILITIES,
  matchKeys: (person) => tiktokMatchKeys(person),
  drafts: tiktokDrafts,
  ensureAudience,
  push,
  replace,
  finalize: async (_ctx, input) => ({
    status: 'complete',
    failures: [],
    ...(input.session ? { session: input.session } : {}),
  }),
  describe,
};
