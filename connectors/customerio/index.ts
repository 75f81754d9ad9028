import { assertBatchSize, batchSizeFor } from '../core/batching.js';
import {
  AuthError,
  type ConnectorError,
  InvalidPayloadError,
  PlatformError,
  RateLimitedError,
  RetryableError,
} from '../core/errors.js';
import { asObject, draftUrl, type HttpResponse, retryAfterMs, sendHttp } from '../core/http.js';
import { rejected, unattributed as unattributedFailures } from '../core/results.js';
import { retryingRequest } from '../core/retry.js';
import type {
  Capabilities,
  ConnectorContext,
  ConnectorDefinition,
  DraftRequest,
  PushInput,
  PushResult,
  UnattributedFailure,
} from '../core/types.js';
import { CIO_MAX_BATCH, CIO_TRACK_API_VERSION, type CioConfig, cioConfigSchema } from './config.js';
import { batchDraft, cioDrafts } from './drafts.js';

/**
 * Customer.io write-back: sets audience results (group, score, decile, membership) as person
 * attributes through Track API v2 batch identify, HTTP Basic auth with site id and API key.
 * Rows carry only the customer_id and the attribute values: no personal data goes out.
 */

type Ctx = ConnectorContext<CioConfig>;

export const CIO_CAPABILITIES: Capabilities = {
  maxBatchSize: CIO_MAX_BATCH,
  identifierTypes: ['external_id'],
  addsAndRemovesShareRequest: true,
  asyncJobs: false,
  minAudienceSize: null,
  replaceStrategy: 'none',
};

const US = 'https://track.customer.io';
const EU = 'https://track-eu.customer.io';

function baseUrl(ctx: Ctx): string {
  const configured = ctx.urls.track!;
  // The EU data center has its own host; CIO_TRACK_URL (tests, proxies) overrides either.
  return configured === US && ctx.config.region === 'eu' ? EU : configured;
}

function classify(response: HttpResponse, what: string): ConnectorError {
  const body = asObject(response.json);
  const says =
    typeof body?.meta === 'object'
      ? JSON.stringify(body.meta)
      : typeof body?.message === 'string'
        ? body.message
        : '';
  const details = { connector: 'customerio', status: response.status, code: response.status };
  const suffix = says ? `: ${says}` : '';
  if (response.status === 429)
    return new RateLimitedError(
      `Customer.io throttled ${what} (HTTP 429)`,
      details,
      retryAfterMs(response.headers, 10_000),
    );
  if (response.status === 401 || response.status === 403) {
    return new AuthError(
      `Customer.io refused the Track API credentials during ${what} (HTTP ${response.status}): check site_id and api_key`,
      details,
    );
  }
  if (response.status >= 500 || response.status === 408)
    return new RetryableError(
      `Customer.io had a passing failure during ${what} (HTTP ${response.status})`,
      details,
      15_000,
    );
  if (response.status >= 400)
    return new InvalidPayloadError(
      `Customer.io rejected ${what} (HTTP ${response.status})${suffix}`,
      details,
    );
  return new PlatformError(`Customer.io answered ${what} with HTTP ${response.status}`, details);
}

async function send(ctx: Ctx, draft: DraftRequest, what: string): Promise<HttpResponse> {
  const auth = Buffer.from(`${ctx.config.site_id}:${ctx.config.api_key}`).toString('base64');
  // Retried here when the sync asks for it (ctx.retry: ensureAudience's credential check).
  return retryingRequest(ctx, async () => {
    const response = await sendHttp(ctx, 'customerio', {
      method: draft.method,
      url: draftUrl(baseUrl(ctx), draft),
      headers: { authorization: `Basic ${auth}` },
      ...(draft.body !== undefined ? { json: draft.body } : {}),
    });
    if (response.status >= 200 && response.status < 300) return response;
    throw classify(response, what);
  });
}

async function push(ctx: Ctx, input: PushInput): Promise<PushResult> {
  assertBatchSize('customerio', input.rows, batchSizeFor(CIO_CAPABILITIES, ctx.config));
  const drafted = batchDraft(ctx.config, input);
  const rows = drafted.rows.slice();
  const unattributed: UnattributedFailure[] = [];
  for (const [i, draft] of drafted.requests.entries()) {
    const response = await send(ctx, draft, 'the attribute write-back');
    // 207 Multi-Status: `errors: [{batch_index, reason, field, message}]` name the failed entries.
    const errors = asObject(response.json)?.errors;
    if (!Array.isArray(errors)) continue;
    let unnamed = 0;
    for (const e of errors) {
      const entry = asObject(e);
      const index =
        typeof entry?.batch_index === 'number' ? drafted.entryRows[i]![entry.batch_index] : undefined;
      if (index === undefined) {
        unnamed++;
        continue;
      }
      const reason = [entry?.reason, entry?.field, entry?.message]
        .filter((v) => typeof v === 'string' && v)
        .join(' / ');
      rows[index] = rejected(
        input.rows[index]!.key,
        String(entry?.reason ?? 'rejected'),
        `Customer.io: ${reason || 'rejected'}`,
      );
    }
    unattributed.push(
      ...unattributedFailures(
        unnamed,
        'rejected',
        `Customer.io rejected ${unnamed} entries without naming them`,
      ),
    );
  }
  return {
    rows,
    unattributed,
    requests: drafted.requests.length,
    ...(input.session ? { session: input.session } : {}),
  };
}

export const customerioConnector: ConnectorDefinition<CioConfig> = {
  id: 'customerio',
  title: 'Customer.io write-back',
  apiVersion: CIO_TRACK_API_VERSION,
  configSchema: cioConfigSchema,
  secretFields: ['site_id', 'api_key'],
  endpoints: { track: { env: 'CIO_TRACK_URL', default: US } },
  capabilities: CIO_CAPABILITIES,
  matchKeys: (person) => ({ external_id: person.customer_id }),
  drafts: cioDrafts,
  async ensureAudience(ctx, input) {
    // Nothing to create; checking the credentials here makes a bad key fail before any batch.
    await send(ctx, { method: 'GET', path: '/api/v1/accounts/region' }, 'the credential check');
    return { platformAudienceId: input.audienceId, created: false };
  },
  push,
  finalize: async (_ctx, input) => ({
    status: 'complete',
    failures: [],
    ...(input.session ? { session: input.session } : {}),
  }),
  // Customer.io keeps no audience object to describe; segment sizes live in its own UI.
  describe: async (_ctx, platformAudienceId) => ({
    platformAudienceId,
    size: null,
    matchRate: null,
    raw: {},
  }),
};
