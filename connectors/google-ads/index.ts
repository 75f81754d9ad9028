import { assertBatchSize, batchSizeFor } from '../core/batching.js';
import { AudienceGoneError, InvalidPayloadError, PlatformError, RetryLaterError } from '../core/errors.js';
import { asObject, draftUrl, jsonSafe, sendHttp } from '../core/http.js';
import { serialized } from '../core/locks.js';
import { rejected } from '../core/results.js';
import { retryingRequest } from '../core/retry.js';
import type {
  AudienceDescription,
  Capabilities,
  ConnectorContext,
  ConnectorDefinition,
  DraftRequest,
  EnsureAudienceInput,
  EnsureAudienceResult,
  FinalizeInput,
  FinalizeResult,
  JsonValue,
  PushInput,
  PushResult,
  ReplaceInput,
  RowResult,
  UnattributedFailure,
} from '../core/types.js';
import { GOOGLE_ADS_API_VERSION, GOOGLE_MAX_BATCH, type GoogleConfig, googleConfigSchema } from './config.js';
import {
  addOperationsDrafts,
  consentGroup,
  createJobDraft,
  createListDraft,
  type GoogleJobOp,
  type GoogleJobState,
  gaqlString,
  googleDrafts,
  googleSession,
  planGroups,
  runJobDraft,
  searchDraft,
  withGoogleSession,
} from './drafts.js';
import { classifyGoogleError, errorCodeName, failureEntries } from './errors.js';
import { GOOGLE_IDENTIFIER_TYPES, googleMatchKeys } from './keys.js';
import { accessToken, canRefresh } from './oauth.js';
import type { JobStatusName } from './rest-types.js';

/**
 * Google Ads Customer Match over the documented REST API (the official clients use gRPC to a
 * fixed TLS endpoint, so they cannot be aimed at a test server; our own types shape the bodies,
 * see rest-types.ts). Pushes stage operations in OfflineUserDataJobs; `finalize` runs the
 * jobs one at a time (two running jobs on one list fail with CONCURRENT_MODIFICATION) and polls.
 */

type Ctx = ConnectorContext<GoogleConfig>;

export const GOOGLE_CAPABILITIES: Capabilities = {
  maxBatchSize: GOOGLE_MAX_BATCH,
  identifierTypes: GOOGLE_IDENTIFIER_TYPES,
  addsAndRemovesShareRequest: false,
  asyncJobs: true,
  minAudienceSize: 100,
  replaceStrategy: 'remove_all_then_add',
  // A CLOSED user list runs jobs that add people and adds nobody.
  audiencesClose: true,
  // One job per consent state for additions (planGroups); removals carry no consent.
  requestGroup: (row, op) => (op === 'remove' ? '-' : consentGroup(row.consent)),
};

async function api(
  ctx: Ctx,
  draft: DraftRequest,
  what: string,
  audienceId?: string,
): Promise<Record<string, unknown>> {
  // Retried here, request by request, when the sync asks for it (ctx.retry: ensureAudience, describe).
  return retryingRequest(ctx, async () => {
    for (let attempt = 0; ; attempt++) {
      const token = await accessToken(ctx, attempt > 0);
      const headers: Record<string, string> = {
        authorization: `Bearer ${token}`,
        'developer-token': ctx.config.developer_token,
      };
      if (ctx.config.login_customer_id) headers['login-customer-id'] = ctx.config.login_customer_id;
      const response = await sendHttp(ctx, 'google_ads', {
        method: draft.method,
        url: draftUrl(ctx.urls.api!, draft),
        headers,
        ...(draft.body !== undefined ? { json: draft.body } : {}),
      });
      if (response.status >= 200 && response.status < 300) return asObject(response.json) ?? {};
      // An access token can expire between our check and Google's: refresh once, then believe it.
      if (response.status === 401 && attempt === 0 && canRefresh(ctx.config)) continue;
      throw classifyGoogleError(response, what, audienceId);
    }
  });
}

/** All rows of a GAQL query (paged). */
async function search(
  ctx: Ctx,
  query: string,
  what: string,
  audienceId?: string,
): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  let pageToken: string | undefined;
  for (let page = 0; page < 100; page++) {
    const draft = searchDraft(ctx.config, query);
    if (pageToken) draft.body = { query, pageToken };
    const body = await api(ctx, draft, what, audienceId);
    if (Array.isArray(body.results))
      for (const r of body.results) if (asObject(r)) rows.push(r as Record<string, unknown>);
    pageToken = typeof body.nextPageToken === 'string' && body.nextPageToken ? body.nextPageToken : undefined;
    if (!pageToken) break;
  }
  return rows;
}

const LIST_FIELDS =
  'user_list.resource_name, user_list.name, user_list.membership_status, user_list.size_for_search, user_list.size_for_display, user_list.match_rate_percentage';

async function listByResourceName(
  ctx: Ctx,
  resourceName: string,
): Promise<Record<string, unknown> | undefined> {
  const rows = await search(
    ctx,
    `SELECT ${LIST_FIELDS} FROM user_list WHERE user_list.resource_name = ${gaqlString(resourceName)}`,
    'user list lookup',
  );
  return asObject(rows[0]?.userList);
}

/** Why a user list takes no new members, or undefined when it does (membership status OPEN). */
function closedReason(list: Record<string, unknown>): string | undefined {
  return list.membershipStatus === 'CLOSED'
    ? 'membership status CLOSED: Google Ads adds no new members to it and it cannot be targeted'
    : undefined;
}

async function listsNamed(ctx: Ctx, name: string): Promise<Record<string, unknown>[]> {
  const rows = await search(
    ctx,
    `SELECT user_list.resource_name, user_list.name, user_list.membership_status FROM user_list WHERE user_list.name = ${gaqlString(name)} AND user_list.type = 'CRM_BASED'`,
    'user list search',
  );
  return rows
    .map((r) => asObject(r.userList))
    .filter((l): l is Record<string, unknown> => typeof l?.resourceName === 'string');
}

async function ensureAudience(ctx: Ctx, input: EnsureAudienceInput): Promise<EnsureAudienceResult> {
  return serialized(`google_ads:${ctx.config.customer_id}:${input.name}`, async () => {
    const found = (lists: Record<string, unknown>[]): EnsureAudienceResult | undefined => {
      const list = lists[0];
      if (!list) return undefined;
      const closed = closedReason(list);
      return {
        platformAudienceId: list.resourceName as string,
        created: false,
        ...(closed ? { closed } : {}),
      };
    };
    const existing = found(await listsNamed(ctx, input.name));
    if (existing) return existing;
    try {
      const body = await api(ctx, createListDraft(ctx.config, input), 'user list creation');
      const resourceName = asObject((body.results as unknown[] | undefined)?.[0])?.resourceName;
      if (typeof resourceName !== 'string') {
        throw new PlatformError('Google Ads created a user list but returned no resource name', {
          connector: 'google_ads',
        });
      }
      return { platformAudienceId: resourceName, created: true };
    } catch (error) {
      // Google keeps list names unique: losing a race shows up as NAME_ALREADY_USED.
      if (error instanceof InvalidPayloadError && error.code === 'NAME_ALREADY_USED') {
        const now = found(await listsNamed(ctx, input.name));
        if (now) return now;
      }
      throw error;
    }
  });
}

async function createJob(
  ctx: Ctx,
  userList: string,
  op: GoogleJobOp,
  group: string,
): Promise<GoogleJobState> {
  const body = await api(
    ctx,
    createJobDraft(ctx.config, userList, op, group),
    'offline user data job creation',
    userList,
  );
  if (typeof body.resourceName !== 'string') {
    throw new PlatformError('Google Ads created a job but returned no resource name', {
      connector: 'google_ads',
    });
  }
  return { name: body.resourceName, op, group, state: 'open', operations: 0 };
}

/** Partial failures name the failing operation by index within its request. */
function applyPartialFailure(
  body: Record<string, unknown>,
  rowIndex: number[],
  input: PushInput | ReplaceInput,
  results: RowResult[],
  unattributed: UnattributedFailure[],
): void {
  if (!body.partialFailureError) return;
  const { entries } = failureEntries(body.partialFailureError);
  let unnamed = 0;
  for (const entry of entries) {
    const element = entry.location?.fieldPathElements?.find((e) => e.fieldName === 'operations');
    const row = element?.index !== undefined ? rowIndex[element.index] : undefined;
    if (row === undefined || row < 0) {
      unnamed++;
      continue;
    }
    const key = input.rows[row]!.key;
    results[row] = rejected(
      key,
      errorCodeName(entry),
      `Google Ads: ${entry.message ?? errorCodeName(entry)}`,
    );
  }
  if (unnamed > 0) {
    unattributed.push({
      count: unnamed,
      code: 'partial_failure',
      message: `Google Ads reported ${unnamed} failures without an operation index`,
    });
  }
}

async function stage(ctx: Ctx, input: PushInput | ReplaceInput, op: GoogleJobOp): Promise<PushResult> {
  assertBatchSize('google_ads', input.rows, batchSizeFor(GOOGLE_CAPABILITIES, ctx.config));
  const session = googleSession(input.session);
  const removeAllFirst = op === 'replace' && !session.removeAllSent;
  const planned = planGroups(ctx.config, op, input.rows, removeAllFirst);
  const results = planned.rows.slice();
  const unattributed: UnattributedFailure[] = [];
  let requests = 0;
  for (const group of planned.groups) {
    let job = session.jobs.find((j) => j.op === op && j.group === group.group && j.state === 'open');
    if (!job) {
      job = await createJob(ctx, input.platformAudienceId, op, group.group);
      requests++;
      session.jobs.push(job);
    }
    for (const chunk of addOperationsDrafts(job.name, group)) {
      const body = await api(
        ctx,
        chunk.draft,
        op === 'remove' ? 'staging removals' : 'staging additions',
        input.platformAudienceId,
      );
      requests++;
      applyPartialFailure(body, chunk.rowIndex, input, results, unattributed);
    }
    job.operations += group.operations.length;
    if (group.rowIndex[0] === -1) job.removeAll = true;
  }
  if (removeAllFirst) session.removeAllSent = true;
  return { rows: results, unattributed, requests, session: withGoogleSession(input.session, session) };
}

/** Replacement first (its removeAll must run before anything else), then removals, then additions. */
const RUN_ORDER: Record<GoogleJobOp, number> = { replace: 0, remove: 1, add: 2 };

async function jobStatus(
  ctx: Ctx,
  job: GoogleJobState,
  userList: string,
): Promise<{ status: JobStatusName; failureReason?: string }> {
  const rows = await search(
    ctx,
    `SELECT offline_user_data_job.resource_name, offline_user_data_job.status, offline_user_data_job.failure_reason FROM offline_user_data_job WHERE offline_user_data_job.resource_name = ${gaqlString(job.name)}`,
    'job status',
    userList,
  );
  const found = asObject(rows[0]?.offlineUserDataJob);
  if (!found)
    throw new PlatformError(`Google Ads does not know job ${job.name}`, { connector: 'google_ads' });
  return {
    status: (found.status as JobStatusName | undefined) ?? 'UNKNOWN',
    ...(typeof found.failureReason === 'string' ? { failureReason: found.failureReason } : {}),
  };
}

async function finalize(ctx: Ctx, input: FinalizeInput): Promise<FinalizeResult> {
  const session = googleSession(input.session);
  const jobs = session.jobs
    .map((job, i) => ({ job, i }))
    .sort((a, b) => RUN_ORDER[a.job.op] - RUN_ORDER[b.job.op] || a.i - b.i)
    .map((x) => x.job);
  const maxWaitMs = input.maxWaitMs ?? 0;
  const pollMs = ctx.config.poll_interval_seconds * 1000;
  let waited = 0;
  const failures: UnattributedFailure[] = [];
  let pending = false;
  for (const job of jobs) {
    if (job.state === 'done' || job.state === 'failed') continue;
    if (job.state === 'open') {
      if (job.operations === 0) {
        job.state = 'done'; // nothing staged: nothing to run
        continue;
      }
      try {
        await api(ctx, runJobDraft(job.name), 'running the job', input.platformAudienceId);
      } catch (error) {
        // The job list moved on without us (the job expired or already ran): record, go on.
        if (!(error instanceof InvalidPayloadError) || error.code !== 'JOB_ALREADY_STARTED') throw error;
      }
      job.state = 'running';
    }
    for (;;) {
      let polled: Awaited<ReturnType<typeof jobStatus>>;
      try {
        polled = await jobStatus(ctx, job, input.platformAudienceId);
      } catch (error) {
        // The job runs whether or not we look: a look that failed for now (a throttle, a server
        // error, a lost answer) is a look to make later, keeping what this call did (the job runs,
        // earlier jobs are done). Throwing would drop that, and a retry would start from the top.
        if (!(error instanceof RetryLaterError)) throw error;
        pending = true;
        break;
      }
      const { status, failureReason } = polled;
      if (status === 'SUCCESS') {
        job.state = 'done';
        break;
      }
      if (status === 'FAILED') {
        job.state = 'failed';
        job.failureReason = failureReason ?? 'UNKNOWN';
        failures.push({
          count: job.operations,
          code: job.failureReason,
          message: `Google Ads job ${job.name} failed (${job.failureReason})`,
        });
        break;
      }
      if (waited + pollMs > maxWaitMs) {
        pending = true;
        break;
      }
      await ctx.sleep(pollMs);
      waited += pollMs;
    }
    // One job at a time: the next would fail with CONCURRENT_MODIFICATION while this one runs.
    if (pending) break;
  }
  const details = {
    jobs: jobs.map((j) => ({ name: j.name, op: j.op, state: j.state, operations: j.operations })),
  } as JsonValue;
  return {
    status: pending ? 'pending' : failures.length > 0 ? 'failed' : 'complete',
    session: withGoogleSession(input.session, session),
    failures,
    details: { google: details },
  };
}

function int64(value: unknown): number | undefined {
  const n = typeof value === 'string' ? Number(value) : value;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

async function describe(ctx: Ctx, platformAudienceId: string): Promise<AudienceDescription> {
  const list = await listByResourceName(ctx, platformAudienceId);
  if (!list) {
    throw new AudienceGoneError(
      `Google Ads user list ${platformAudienceId} no longer exists`,
      { connector: 'google_ads' },
      platformAudienceId,
    );
  }
  const size = int64(list.sizeForSearch) ?? int64(list.sizeForDisplay);
  const rate = int64(list.matchRatePercentage);
  const closed = closedReason(list);
  return {
    platformAudienceId,
    ...(typeof list.name === 'string' ? { name: list.name } : {}),
    size: size ?? null,
    matchRate: rate !== undefined ? rate / 100 : null,
    ...(typeof list.membershipStatus === 'string' ? { status: list.membershipStatus } : {}),
    ...(closed ? { closed } : {}),
    raw: { userList: jsonSafe(list) },
  };
}

export const googleAdsConnector: ConnectorDefinition<GoogleConfig> = {
  id: 'google_ads',
  title: 'Google Ads Customer Match',
  apiVersion: GOOGLE_ADS_API_VERSION,
  configSchema: googleConfigSchema,
  secretFields: ['developer_token', 'client_id', 'client_secret', 'refresh_token', 'access_token'],
  endpoints: {
    api: { env: 'GOOGLE_ADS_API_URL', default: 'https://googleads.googleapis.com' },
    oauth: { env: 'GOOGLE_OAUTH_TOKEN_URL', default: 'https://oauth2.googleapis.com/token' },
  },
  capabilities: GOOGLE_CAPABILITIES,
  matchKeys: (person, config) => googleMatchKeys(person, config),
  drafts: googleDrafts,
  ensureAudience,
  push: (ctx, input) => stage(ctx, input, input.op),
  replace: (ctx, input) => stage(ctx, input, 'replace'),
  finalize,
  describe,
};
