import { assertBatchSize, batchSizeFor } from '../core/batching.js';
import { AudienceGoneError, PlatformError } from '../core/errors.js';
import { asObject, draftUrl, jsonSafe, sendHttp } from '../core/http.js';
import { compareNumericIds, serialized } from '../core/locks.js';
import { rejected, unattributed } from '../core/results.js';
import { retryingRequest } from '../core/retry.js';
import type {
  AudienceDescription,
  Capabilities,
  ConnectorContext,
  ConnectorDefinition,
  ConnectorSession,
  DraftRequest,
  EnsureAudienceResult,
  JsonValue,
  PushResult,
  RowResult,
  UnattributedFailure,
} from '../core/types.js';
import { META_API_VERSION, META_MAX_BATCH, type MetaConfig, metaConfigSchema } from './config.js';
import {
  createAudienceDraft,
  type DraftedPayload,
  metaDrafts,
  metaPayload,
  nextReplaceSession,
  replaceDraft,
  usersDraft,
} from './drafts.js';
import { classifyMetaError, graphError } from './errors.js';
import { META_IDENTIFIER_TYPES, metaMatchKeys } from './keys.js';

/**
 * Meta Custom Audiences (customer file) over the Graph API.
 *
 * Plain `fetch` against the documented endpoints rather than facebook-nodejs-business-sdk: the
 * SDK's base URL is a process-wide static getter (one override would redirect every context), and
 * its `deleteUsers` puts the payload in the query string, which 10,000 rows cannot fit. The SDK
 * does not normalize or hash either, so it would only add a layer.
 */

type Ctx = ConnectorContext<MetaConfig>;

export const META_CAPABILITIES: Capabilities = {
  maxBatchSize: META_MAX_BATCH,
  identifierTypes: META_IDENTIFIER_TYPES,
  addsAndRemovesShareRequest: false,
  asyncJobs: false,
  minAudienceSize: 100,
  replaceStrategy: 'session',
};

async function graph(
  ctx: Ctx,
  draft: DraftRequest,
  what: string,
  audienceId?: string,
): Promise<Record<string, unknown>> {
  // Retried here, request by request, when the sync asks for it (ctx.retry: ensureAudience, describe).
  return retryingRequest(ctx, async () => {
    const response = await sendHttp(ctx, 'meta', {
      method: draft.method,
      url: draftUrl(ctx.urls.graph!, draft),
      // The token goes in a header, never in a URL that proxies and servers log.
      headers: { authorization: `Bearer ${ctx.config.access_token}` },
      ...(draft.body !== undefined ? { json: draft.body } : {}),
    });
    if (response.status >= 200 && response.status < 300 && !graphError(response)) {
      return asObject(response.json) ?? {};
    }
    throw classifyMetaError(response, what, audienceId);
  });
}

const AUDIENCE_FIELDS =
  'id,name,approximate_count_lower_bound,approximate_count_upper_bound,operation_status,delivery_status,time_updated';

async function getAudience(ctx: Ctx, id: string): Promise<Record<string, unknown>> {
  return graph(
    ctx,
    { method: 'GET', path: `/${META_API_VERSION}/${id}`, query: { fields: AUDIENCE_FIELDS } },
    'audience lookup',
    id,
  );
}

/** Every audience of the ad account with exactly this name (paged), smallest id first. */
async function audiencesNamed(ctx: Ctx, name: string): Promise<string[]> {
  const ids: string[] = [];
  let after: string | undefined;
  for (let page = 0; page < 500; page++) {
    const body = await graph(
      ctx,
      {
        method: 'GET',
        path: `/${META_API_VERSION}/${ctx.config.ad_account_id}/customaudiences`,
        query: { fields: 'id,name', limit: '500', ...(after ? { after } : {}) },
      },
      'audience search',
    );
    const data = Array.isArray(body.data) ? body.data : [];
    for (const entry of data) {
      const a = asObject(entry);
      if (a && a.name === name && typeof a.id === 'string') ids.push(a.id);
    }
    const paging = asObject(body.paging);
    const next = asObject(paging?.cursors)?.after;
    if (!paging?.next || typeof next !== 'string') break;
    after = next;
  }
  return ids.sort(compareNumericIds);
}

async function ensureAudience(
  ctx: Ctx,
  input: Parameters<ConnectorDefinition<MetaConfig>['ensureAudience']>[1],
): Promise<EnsureAudienceResult> {
  return serialized(`meta:${ctx.config.ad_account_id}:${input.name}`, async () => {
    const existing = await audiencesNamed(ctx, input.name);
    if (existing[0]) return { platformAudienceId: existing[0], created: false };
    const created = await graph(ctx, createAudienceDraft(ctx.config, input), 'audience creation');
    if (typeof created.id !== 'string')
      throw new PlatformError('Meta created an audience but returned no id', { connector: 'meta' });
    // Another worker may have created the same name meanwhile: the smallest id wins, the loser
    // deletes its own, so there is never more than one audience per name.
    const now = await audiencesNamed(ctx, input.name);
    const winner = now[0] ?? created.id;
    if (winner !== created.id) {
      try {
        await graph(
          ctx,
          { method: 'DELETE', path: `/${META_API_VERSION}/${created.id}` },
          'duplicate audience removal',
          created.id,
        );
      } catch (error) {
        // A removal retried after its answer was lost finds the duplicate gone: what it wanted.
        if (!(error instanceof AudienceGoneError)) throw error;
      }
      return { platformAudienceId: winner, created: false };
    }
    return { platformAudienceId: created.id, created: true };
  });
}

/** Maps Meta's answer back to rows: `invalid_entry_samples` are keyed by row data, not index. */
function resultsFrom(
  drafted: DraftedPayload,
  body: Record<string, unknown>,
): { rows: RowResult[]; unattributed: UnattributedFailure[] } {
  const rows = drafted.rows.slice();
  const cellOwners = new Map<string, number[]>();
  const rowJson = new Map<string, number>();
  drafted.payload.data.forEach((cells, sentIndex) => {
    rowJson.set(JSON.stringify(cells), sentIndex);
    for (const cell of cells) {
      if (typeof cell !== 'string' || cell === '') continue;
      const owners = cellOwners.get(cell);
      if (owners) owners.push(sentIndex);
      else cellOwners.set(cell, [sentIndex]);
    }
  });
  const samples = asObject(body.invalid_entry_samples) ?? {};
  const hit = new Set<number>();
  for (const [sample, reason] of Object.entries(samples)) {
    let owners = cellOwners.get(sample) ?? cellOwners.get(sample.toLowerCase());
    if (!owners && rowJson.has(sample)) owners = [rowJson.get(sample)!];
    // A value several rows share (a country, a city) does not say which row was invalid:
    // leave it to the unattributed count rather than reject innocent rows.
    if (owners?.length !== 1) continue;
    for (const sentIndex of owners) {
      const row = drafted.sent[sentIndex]!;
      hit.add(sentIndex);
      rows[drafted.sentIndex[sentIndex]!] = rejected(row.key, 'invalid_entry', `Meta: ${String(reason)}`);
    }
  }
  const invalid = typeof body.num_invalid_entries === 'number' ? body.num_invalid_entries : 0;
  const received = typeof body.num_received === 'number' ? body.num_received : drafted.sent.length;
  return {
    rows,
    unattributed: [
      ...unattributed(
        invalid - hit.size,
        'invalid_entries',
        `Meta counted ${invalid - hit.size} more invalid rows without naming them`,
      ),
      ...unattributed(
        drafted.sent.length - received,
        'not_received',
        `Meta received ${received} of ${drafted.sent.length} rows`,
      ),
    ],
  };
}

async function push(
  ctx: Ctx,
  input: Parameters<ConnectorDefinition<MetaConfig>['push']>[1],
): Promise<PushResult> {
  assertBatchSize('meta', input.rows, batchSizeFor(META_CAPABILITIES, ctx.config));
  const drafted = metaPayload(ctx.config, input.rows);
  if (drafted.sent.length === 0)
    return { rows: drafted.rows, unattributed: [], requests: 0, ...sessionOf(input.session) };
  const what = input.op === 'add' ? 'adding users' : 'removing users';
  const body = await graph(
    ctx,
    usersDraft(input.platformAudienceId, input.op, drafted.payload),
    what,
    input.platformAudienceId,
  );
  return { ...resultsFrom(drafted, body), requests: 1, ...sessionOf(input.session) };
}

async function replace(
  ctx: Ctx,
  input: Parameters<NonNullable<ConnectorDefinition<MetaConfig>['replace']>>[1],
): Promise<PushResult> {
  assertBatchSize('meta', input.rows, batchSizeFor(META_CAPABILITIES, ctx.config));
  const drafted = metaPayload(ctx.config, input.rows);
  const replaceSession = nextReplaceSession(input.session);
  const body = await graph(
    ctx,
    replaceDraft(input, drafted.payload, replaceSession),
    'replacing users',
    input.platformAudienceId,
  );
  const session: ConnectorSession = { ...input.session, meta_replace: { ...replaceSession } };
  return { ...resultsFrom(drafted, body), requests: 1, session };
}

function sessionOf(session: ConnectorSession | undefined): { session?: ConnectorSession } {
  return session ? { session } : {};
}

function count(value: unknown): number | undefined {
  return typeof value === 'number' && value >= 0 ? value : undefined;
}

async function describe(ctx: Ctx, platformAudienceId: string): Promise<AudienceDescription> {
  const audience = await getAudience(ctx, platformAudienceId);
  const sessions = await graph(
    ctx,
    {
      method: 'GET',
      path: `/${META_API_VERSION}/${platformAudienceId}/sessions`,
      query: {
        fields: 'session_id,start_time,end_time,num_received,num_matched,num_invalid_entries,stage',
        limit: '1',
      },
    },
    'session lookup',
    platformAudienceId,
  );
  const latest = asObject(Array.isArray(sessions.data) ? sessions.data[0] : undefined);
  const received = count(latest?.num_received);
  const matched = count(latest?.num_matched);
  const lower = count(audience.approximate_count_lower_bound);
  const upper = count(audience.approximate_count_upper_bound);
  const status = asObject(audience.operation_status);
  return {
    platformAudienceId,
    ...(typeof audience.name === 'string' ? { name: audience.name } : {}),
    size: lower ?? null,
    ...(lower !== undefined ? { sizeLowerBound: lower } : {}),
    ...(upper !== undefined ? { sizeUpperBound: upper } : {}),
    matchRate: received && matched !== undefined ? matched / received : null,
    ...(status ? { status: `${String(status.code ?? '')} ${String(status.description ?? '')}`.trim() } : {}),
    raw: {
      audience: jsonSafe(audience) as JsonValue,
      latest_session: (latest ? jsonSafe(latest) : null) as JsonValue,
    },
  };
}

export const metaConnector: ConnectorDefinition<MetaConfig> = {
  id: 'meta',
  title: 'Meta Custom Audiences',
  apiVersion: META_API_VERSION,
  configSchema: metaConfigSchema,
  secretFields: ['access_token'],
  endpoints: { graph: { env: 'META_GRAPH_URL', default: 'https://graph.facebook.com' } },
  capabilities: META_CAPABILITIES,
  matchKeys: (person, config) => metaMatchKeys(person, config),
  drafts: metaDrafts,
  ensureAudience,
  push,
  replace,
  finalize: async (_ctx, input) => ({ status: 'complete', failures: [], ...sessionOf(input.session) }),
  describe,
};
