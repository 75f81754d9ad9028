import { type FakeResponse, type RecordedRequest, SHA256_RE, startFakeHttp } from './http.js';
import { withoutBodies } from './meta.js';

/**
 * A fake Google Ads REST API (v24) plus OAuth token endpoint, on loopback. It checks the documented
 * shapes: OAuth refresh grant; `developer-token` and Bearer headers; userLists:mutate create with
 * membershipLifeSpan ≤ 540; offlineUserDataJobs:create with CUSTOMER_MATCH_USER_LIST metadata;
 * addOperations with one UserData per operation, exactly one identifier per UserIdentifier, full
 * address info, ≤ 20 identifiers per person, ≤ 100,000 per request, no mixing of create and
 * remove in one job, removeAll first; run; GAQL search for lists and jobs. It can throttle,
 * answer CONCURRENT_MODIFICATION, fail operations partially, expire tokens, revoke the refresh
 * token, lose a list, close a list (membership status CLOSED: its jobs still succeed, but no new
 * member is added, as Google documents), or be slow.
 */

export interface FakeGoogleList {
  id: string;
  resourceName: string;
  name: string;
  description: string;
  membershipLifeSpan: number;
  uploadKeyType: string;
  /** CLOSED: Google adds no new members (jobs that add still succeed) and the list cannot be targeted. */
  membershipStatus: 'OPEN' | 'CLOSED';
  /** Members by identifier value (hashed email, phone, address tuple, CRM id or mobile id). */
  members: Set<string>;
  removed: boolean;
  /** `countOnly` fakes: how many people the list holds (created minus removed operations). */
  counted?: number;
}

export interface FakeGoogleJob {
  resourceName: string;
  userList: string;
  consent?: { adUserData?: string; adPersonalization?: string };
  kind?: 'create' | 'remove';
  removeAll: boolean;
  operations: Array<{ op: 'create' | 'remove'; identities: string[] }>;
  status: 'PENDING' | 'RUNNING' | 'SUCCESS' | 'FAILED';
  failureReason?: string;
  pollsLeft: number;
  /** `countOnly` fakes: staged operations are counted, not kept. */
  counted?: { create: number; remove: number };
}

export interface FakeGoogleState {
  lists: Map<string, FakeGoogleList>;
  jobs: Map<string, FakeGoogleJob>;
  shapeErrors: string[];
  issuedTokens: Set<string>;
  tokenRefreshes: number;
  /** `countOnly` fakes: one entry per addOperations request (no identifiers). */
  uploads?: FakeGoogleUpload[];
  /** Other fakes: the operations each addOperations request had accepted, in arrival order. */
  batches: FakeGoogleBatch[];
}

export interface FakeGoogleBatch {
  /** The list the request's job stages for. */
  list: string;
  op: 'create' | 'remove';
  /** One entry per accepted operation: its identities, comma-joined. */
  rows: string[];
}

export interface FakeGoogleUpload {
  job: string;
  op: 'add' | 'remove';
  /** The job's consent, `adUserData/adPersonalization`, or `-` for a job without consent (removes). */
  group: string;
  /** Operations the request carried (one person each; `removeAll` not counted). */
  rows: number;
}

export interface FakeGoogleAdsOptions {
  /**
   * Validate every request as usual but keep no identities: jobs count their operations, lists
   * count their members (created minus removed, no matching), recorded requests drop their bodies
   * once answered, and `state.uploads` logs each addOperations request. For benchmarks.
   */
  countOnly?: boolean;
}

export interface FakeGoogleControls {
  /** The next `times` API calls answer 429 RESOURCE_EXHAUSTED with this retry delay. */
  throttle(times: number, retryDelaySeconds?: number): void;
  /** The next `times` API calls answer HTTP 500 INTERNAL (internalError INTERNAL_ERROR). */
  failServer(times: number): void;
  /** The next `times` run / addOperations calls answer CONCURRENT_MODIFICATION. */
  concurrentModification(times: number): void;
  /** Operations carrying one of these identifier values fail (partial failure). */
  rejectValues(values: Iterable<string>, code?: string): void;
  /** Every access token issued so far stops working (401); refreshing fixes it. */
  expireAccessTokens(): void;
  /** The refresh token no longer works (invalid_grant). */
  revokeRefreshToken(): void;
  removeList(resourceName: string): void;
  /** Sets the list's membership status to CLOSED (or back to OPEN). */
  setMembershipStatus(resourceName: string, status: 'OPEN' | 'CLOSED'): void;
  /** Status polls a job needs before it finishes (default 1). */
  setJobPolls(polls: number): void;
  /** The next job to run fails with this reason. */
  failNextJob(reason: string): void;
  setLatency(ms: number): void;
}

export interface FakeGoogleAds {
  url: string;
  tokenUrl: string;
  state: FakeGoogleState;
  controls: FakeGoogleControls;
  requests: RecordedRequest[];
  credentials: { client_id: string; client_secret: string; refresh_token: string; developer_token: string };
  close(): Promise<void>;
}

const ALLOWED_CONSENT = ['GRANTED', 'DENIED', 'UNSPECIFIED'];

function adsError(
  status: number,
  rpcStatus: string,
  errors: Array<{
    errorCode: Record<string, string>;
    message: string;
    location?: unknown;
    details?: unknown;
  }>,
): FakeResponse {
  return {
    status,
    json: {
      error: {
        code: status,
        message: errors[0]?.message ?? rpcStatus,
        status: rpcStatus,
        details: [
          {
            '@type': 'type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure',
            errors,
            requestId: `req-${Math.floor(Math.random() * 1e9)}`,
          },
        ],
      },
    },
  };
}

export async function startFakeGoogleAds(options: FakeGoogleAdsOptions = {}): Promise<FakeGoogleAds> {
  const countOnly = options.countOnly === true;
  const credentials = {
    client_id: 'client-123.apps.googleusercontent.com',
    client_secret: 'client-secret-xyz',
    refresh_token: '1//refresh-token-abc',
    developer_token: 'dev-token-123',
  };
  const state: FakeGoogleState = {
    lists: new Map(),
    jobs: new Map(),
    shapeErrors: [],
    issuedTokens: new Set(),
    tokenRefreshes: 0,
    batches: [],
    ...(countOnly ? { uploads: [] } : {}),
  };
  const sizeOf = (list: FakeGoogleList) => (countOnly ? (list.counted ?? 0) : list.members.size);
  let nextId = 9000001;
  let throttleLeft = 0;
  let serverFailuresLeft = 0;
  let throttleDelay = 10;
  let concurrentLeft = 0;
  let rejected = new Set<string>();
  let rejectCode = 'INVALID_SHA256_FORMAT';
  let refreshRevoked = false;
  let jobPolls = 1;
  let failNext: string | undefined;
  let tokenCounter = 0;

  function shape(message: string): FakeResponse {
    state.shapeErrors.push(message);
    return adsError(400, 'INVALID_ARGUMENT', [{ errorCode: { fieldError: 'INVALID_VALUE' }, message }]);
  }

  function tokenEndpoint(request: RecordedRequest): FakeResponse {
    if (!request.contentType.includes('application/x-www-form-urlencoded'))
      return { status: 400, json: { error: 'invalid_request', error_description: 'form body required' } };
    const p = request.body as Record<string, string>;
    if (p.grant_type !== 'refresh_token') return { status: 400, json: { error: 'unsupported_grant_type' } };
    if (p.client_id !== credentials.client_id || p.client_secret !== credentials.client_secret)
      return { status: 401, json: { error: 'invalid_client', error_description: 'Unauthorized' } };
    if (refreshRevoked || p.refresh_token !== credentials.refresh_token)
      return {
        status: 400,
        json: { error: 'invalid_grant', error_description: 'Token has been expired or revoked.' },
      };
    const token = `ya29.fake-access-${++tokenCounter}`;
    state.issuedTokens.add(token);
    state.tokenRefreshes++;
    return {
      status: 200,
      json: {
        access_token: token,
        expires_in: 3599,
        token_type: 'Bearer',
        scope: 'https://www.googleapis.com/auth/adwords',
      },
    };
  }

  /** One identity string per identifier, so removals can match what adds stored. */
  function identityOf(id: Record<string, unknown>): string | { error: string } {
    const fields = ['hashedEmail', 'hashedPhoneNumber', 'mobileId', 'thirdPartyUserId', 'addressInfo'].filter(
      (f) => id[f] !== undefined,
    );
    if (fields.length !== 1)
      return {
        error: `a UserIdentifier must hold exactly one identifier, got ${fields.join(',') || 'none'}`,
      };
    const field = fields[0]!;
    const value = id[field];
    if (field === 'hashedEmail' || field === 'hashedPhoneNumber') {
      if (typeof value !== 'string' || !SHA256_RE.test(value))
        return { error: `${field} must be a lowercase SHA-256 hash` };
      return `${field}:${value}`;
    }
    if (field === 'addressInfo') {
      const a = value as Record<string, unknown>;
      if (!a || typeof a !== 'object') return { error: 'addressInfo must be an object' };
      for (const k of ['hashedFirstName', 'hashedLastName']) {
        if (typeof a[k] !== 'string' || !SHA256_RE.test(a[k] as string))
          return { error: `addressInfo.${k} must be a lowercase SHA-256 hash` };
      }
      if (typeof a.countryCode !== 'string' || !/^[A-Z]{2}$/.test(a.countryCode))
        return { error: 'addressInfo.countryCode must be an unhashed two-letter code' };
      if (typeof a.postalCode !== 'string' || a.postalCode.length === 0 || SHA256_RE.test(a.postalCode))
        return { error: 'addressInfo.postalCode must be unhashed' };
      return `address:${a.hashedFirstName}|${a.hashedLastName}|${a.countryCode}|${a.postalCode}`;
    }
    if (typeof value !== 'string' || value.length === 0)
      return { error: `${field} must be a non-empty string` };
    return `${field}:${value}`;
  }

  function search(customer: string, query: string): FakeResponse {
    const where = /WHERE\s+([a-z_.]+)\s*=\s*'((?:[^'\\]|\\.)*)'/i.exec(query);
    const value = where?.[2]?.replace(/\\(.)/g, '$1');
    if (/FROM\s+user_list\b/i.test(query)) {
      const lists = [...state.lists.values()].filter(
        (l) => !l.removed && l.resourceName.startsWith(`customers/${customer}/`),
      );
      const matched = lists.filter((l) =>
        where?.[1] === 'user_list.name'
          ? l.name === value
          : where?.[1] === 'user_list.resource_name'
            ? l.resourceName === value
            : true,
      );
      return {
        status: 200,
        json: {
          results: matched.map((l) => ({
            userList: {
              resourceName: l.resourceName,
              name: l.name,
              membershipStatus: l.membershipStatus,
              sizeForSearch: String(sizeOf(l) >= 1000 ? sizeOf(l) : 0),
              sizeForDisplay: String(sizeOf(l) >= 1000 ? sizeOf(l) : 0),
              matchRatePercentage: sizeOf(l) > 0 ? 55 : 0,
            },
          })),
        },
      };
    }
    if (/FROM\s+offline_user_data_job\b/i.test(query)) {
      const job = value ? state.jobs.get(value) : undefined;
      if (!job) return { status: 200, json: { results: [] } };
      if (job.status === 'RUNNING') {
        job.pollsLeft--;
        if (job.pollsLeft <= 0) finishJob(job);
      }
      return {
        status: 200,
        json: {
          results: [
            {
              offlineUserDataJob: {
                resourceName: job.resourceName,
                status: job.status,
                ...(job.failureReason ? { failureReason: job.failureReason } : {}),
              },
            },
          ],
        },
      };
    }
    return shape(`unsupported query: ${query}`);
  }

  function finishJob(job: FakeGoogleJob): void {
    const list = state.lists.get(job.userList);
    if (job.failureReason) {
      job.status = 'FAILED';
      return;
    }
    if (!list || list.removed) {
      job.status = 'FAILED';
      job.failureReason = 'UNKNOWN';
      return;
    }
    if (job.removeAll) list.members.clear();
    // A CLOSED list takes no new members; the job succeeds all the same.
    const adds = list.membershipStatus === 'OPEN';
    if (countOnly) {
      const held = job.removeAll ? 0 : (list.counted ?? 0);
      const created = adds ? (job.counted?.create ?? 0) : 0;
      list.counted = Math.max(0, held + created - (job.counted?.remove ?? 0));
    }
    for (const operation of job.operations) {
      for (const identity of operation.identities) {
        if (operation.op === 'remove') list.members.delete(identity);
        else if (adds) list.members.add(identity);
      }
    }
    job.status = 'SUCCESS';
  }

  const handler = (request: RecordedRequest): FakeResponse => {
    if (request.path === '/token') return tokenEndpoint(request);
    if (request.headers['developer-token'] !== credentials.developer_token) {
      return adsError(401, 'UNAUTHENTICATED', [
        {
          errorCode: { authenticationError: 'DEVELOPER_TOKEN_INVALID' },
          message: 'The developer token is not valid.',
        },
      ]);
    }
    const auth = request.headers.authorization ?? '';
    const token = auth.startsWith('Bearer ') ? auth.slice(7) : '';
    if (!state.issuedTokens.has(token)) {
      return adsError(401, 'UNAUTHENTICATED', [
        {
          errorCode: { authenticationError: 'OAUTH_TOKEN_EXPIRED' },
          message: 'The OAuth token in the request has expired.',
        },
      ]);
    }
    if (serverFailuresLeft > 0) {
      serverFailuresLeft--;
      return adsError(500, 'INTERNAL', [
        {
          errorCode: { internalError: 'INTERNAL_ERROR' },
          message: 'An internal error has occurred.',
        },
      ]);
    }
    if (throttleLeft > 0) {
      throttleLeft--;
      return adsError(429, 'RESOURCE_EXHAUSTED', [
        {
          errorCode: { quotaError: 'RESOURCE_EXHAUSTED' },
          message: 'Too many requests.',
          details: { quotaErrorDetails: { rateScope: 'ACCOUNT', retryDelay: `${throttleDelay}s` } },
        },
      ]);
    }
    if (request.method !== 'POST') return shape(`${request.method} is not used by this API`);
    const body = (request.body ?? {}) as Record<string, unknown>;
    let m = /^\/v24\/customers\/(\d{10})\/googleAds:search$/.exec(request.path);
    if (m) {
      if (typeof body.query !== 'string') return shape('search needs a query');
      return search(m[1]!, body.query);
    }
    m = /^\/v24\/customers\/(\d{10})\/userLists:mutate$/.exec(request.path);
    if (m) {
      const customer = m[1]!;
      const ops = body.operations;
      if (!Array.isArray(ops) || ops.length !== 1)
        return shape('userLists:mutate expects one operation here');
      const create = (ops[0] as { create?: Record<string, unknown> }).create;
      if (!create) return shape('only create operations are expected');
      if (typeof create.name !== 'string' || !create.name) return shape('user list name is required');
      const span = Number(create.membershipLifeSpan);
      if (!Number.isInteger(span) || span < 1) return shape('membershipLifeSpan must be a positive integer');
      if (span > 540)
        return adsError(400, 'INVALID_ARGUMENT', [
          { errorCode: { rangeError: 'TOO_HIGH' }, message: 'Too high.' },
        ]);
      const crm = create.crmBasedUserList as Record<string, unknown> | undefined;
      if (!crm || !['CONTACT_INFO', 'CRM_ID', 'MOBILE_ADVERTISING_ID'].includes(String(crm.uploadKeyType)))
        return shape('crmBasedUserList.uploadKeyType is required');
      if ([...state.lists.values()].some((l) => !l.removed && l.name === create.name)) {
        return adsError(400, 'INVALID_ARGUMENT', [
          {
            errorCode: { userListError: 'NAME_ALREADY_USED' },
            message: 'Name is already being used for another user list for the account.',
          },
        ]);
      }
      const id = String(nextId++);
      const resourceName = `customers/${customer}/userLists/${id}`;
      state.lists.set(resourceName, {
        id,
        resourceName,
        name: create.name,
        description: String(create.description ?? ''),
        membershipLifeSpan: span,
        uploadKeyType: String(crm.uploadKeyType),
        membershipStatus: 'OPEN',
        members: new Set(),
        removed: false,
        ...(countOnly ? { counted: 0 } : {}),
      });
      return { status: 200, json: { results: [{ resourceName }] } };
    }
    m = /^\/v24\/customers\/(\d{10})\/offlineUserDataJobs:create$/.exec(request.path);
    if (m) {
      const job = body.job as Record<string, unknown> | undefined;
      if (job?.type !== 'CUSTOMER_MATCH_USER_LIST') return shape('job.type must be CUSTOMER_MATCH_USER_LIST');
      const meta = job.customerMatchUserListMetadata as Record<string, unknown> | undefined;
      if (!meta || typeof meta.userList !== 'string')
        return shape('customerMatchUserListMetadata.userList is required');
      const consent = meta.consent as Record<string, string> | undefined;
      if (consent) {
        for (const k of Object.keys(consent)) {
          if (!['adUserData', 'adPersonalization'].includes(k)) return shape(`unknown consent field ${k}`);
          if (!ALLOWED_CONSENT.includes(consent[k]!))
            return shape(`consent.${k} must be GRANTED, DENIED or UNSPECIFIED`);
        }
      }
      const list = state.lists.get(meta.userList);
      if (!list || list.removed) {
        return adsError(400, 'INVALID_ARGUMENT', [
          {
            errorCode: { offlineUserDataJobError: 'INVALID_USER_LIST_ID' },
            message: 'The user list ID provided for the job is invalid.',
          },
        ]);
      }
      const resourceName = `customers/${m[1]}/offlineUserDataJobs/${nextId++}`;
      state.jobs.set(resourceName, {
        resourceName,
        userList: meta.userList,
        ...(consent ? { consent } : {}),
        removeAll: false,
        operations: [],
        status: 'PENDING',
        pollsLeft: jobPolls,
        ...(countOnly ? { counted: { create: 0, remove: 0 } } : {}),
      });
      return { status: 200, json: { resourceName } };
    }
    m = /^\/v24\/(customers\/\d{10}\/offlineUserDataJobs\/\d+):(addOperations|run)$/.exec(request.path);
    if (m) {
      const job = state.jobs.get(m[1]!);
      if (!job)
        return adsError(404, 'NOT_FOUND', [
          { errorCode: { mutateError: 'RESOURCE_NOT_FOUND' }, message: 'Resource was not found.' },
        ]);
      const list = state.lists.get(job.userList);
      if (!list || list.removed) {
        return adsError(400, 'INVALID_ARGUMENT', [
          {
            errorCode: { offlineUserDataJobError: 'INVALID_USER_LIST_ID' },
            message: 'The user list ID provided for the job is invalid.',
          },
        ]);
      }
      if (concurrentLeft > 0) {
        concurrentLeft--;
        return adsError(400, 'INVALID_ARGUMENT', [
          {
            errorCode: { databaseError: 'CONCURRENT_MODIFICATION' },
            message: 'Multiple requests were attempting to modify the same resource at once.',
          },
        ]);
      }
      if (m[2] === 'run') {
        if (job.status !== 'PENDING')
          return adsError(400, 'INVALID_ARGUMENT', [
            {
              errorCode: { offlineUserDataJobError: 'JOB_ALREADY_STARTED' },
              message: 'The job has already started.',
            },
          ]);
        const running = [...state.jobs.values()].some(
          (j) => j.userList === job.userList && j.status === 'RUNNING',
        );
        if (running)
          return adsError(400, 'INVALID_ARGUMENT', [
            {
              errorCode: { databaseError: 'CONCURRENT_MODIFICATION' },
              message: 'Multiple requests were attempting to modify the same resource at once.',
            },
          ]);
        job.status = 'RUNNING';
        job.pollsLeft = jobPolls;
        if (failNext) {
          job.failureReason = failNext;
          failNext = undefined;
        }
        return {
          status: 200,
          json: { name: `customers/${job.resourceName.split('/')[1]}/operations/${nextId++}` },
        };
      }
      if (job.status !== 'PENDING')
        return adsError(400, 'INVALID_ARGUMENT', [
          {
            errorCode: { offlineUserDataJobError: 'JOB_ALREADY_STARTED' },
            message: 'The job has already started.',
          },
        ]);
      if (body.enablePartialFailure !== true)
        return shape('enablePartialFailure must be true for Customer Match uploads');
      const ops = body.operations;
      if (!Array.isArray(ops) || ops.length === 0) return shape('operations must be a non-empty array');
      let identifiers = 0;
      const errors: Array<{ errorCode: Record<string, string>; message: string; location: unknown }> = [];
      const accepted: Array<{ op: 'create' | 'remove'; identities: string[] }> = [];
      for (const [index, raw] of ops.entries()) {
        const op = raw as Record<string, unknown>;
        const kinds = ['create', 'remove', 'removeAll'].filter((k) => op[k] !== undefined);
        if (kinds.length !== 1)
          return shape(`operation ${index} must be exactly one of create, remove, removeAll`);
        const kind = kinds[0] as 'create' | 'remove' | 'removeAll';
        if (kind === 'removeAll') {
          if (op.removeAll !== true) return shape('removeAll must be true');
          if (index !== 0 || job.operations.length > 0 || job.removeAll)
            return shape('removeAll must be the first operation of a job');
          job.removeAll = true;
          continue;
        }
        if (job.kind && job.kind !== kind) {
          return adsError(400, 'INVALID_ARGUMENT', [
            {
              errorCode: { offlineUserDataJobError: 'CONFLICTING_OPERATION' },
              message: 'Adds and removes cannot be mixed in one job.',
            },
          ]);
        }
        job.kind = kind;
        const userData = op[kind] as { userIdentifiers?: unknown };
        const ids = userData?.userIdentifiers;
        if (!Array.isArray(ids) || ids.length === 0)
          return shape(`operation ${index} has no userIdentifiers`);
        if (ids.length > 20)
          return adsError(400, 'INVALID_ARGUMENT', [
            {
              errorCode: { offlineUserDataJobError: 'TOO_MANY_USER_IDENTIFIERS' },
              message: 'Too many user identifiers.',
            },
          ]);
        identifiers += ids.length;
        const identities: string[] = [];
        for (const id of ids) {
          const identity = identityOf(id as Record<string, unknown>);
          if (typeof identity !== 'string') return shape(`operation ${index}: ${identity.error}`);
          identities.push(identity);
        }
        if (identities.some((i) => [...rejected].some((v) => i.includes(v)))) {
          errors.push({
            errorCode: { offlineUserDataJobError: rejectCode },
            message: 'The SHA256 encoded value is malformed.',
            location: {
              fieldPathElements: [
                { fieldName: 'operations', index },
                { fieldName: kind },
                { fieldName: 'user_identifiers', index: 0 },
              ],
            },
          });
          continue;
        }
        accepted.push({ op: kind, identities });
      }
      if (identifiers > 100_000) return shape('more than 100,000 identifiers in one request');
      if (countOnly) {
        for (const { op } of accepted) job.counted![op] += 1;
        state.uploads?.push({
          job: job.resourceName,
          op: job.kind === 'remove' ? 'remove' : 'add',
          group: job.consent ? `${job.consent.adUserData}/${job.consent.adPersonalization}` : '-',
          rows: accepted.length,
        });
      } else {
        job.operations.push(...accepted);
        if (job.kind === 'create' || job.kind === 'remove')
          state.batches.push({
            list: job.userList,
            op: job.kind,
            rows: accepted.map((a) => a.identities.join(',')),
          });
      }
      return {
        status: 200,
        json: errors.length
          ? {
              partialFailureError: {
                code: 3,
                message: errors[0]!.message,
                details: [
                  { '@type': 'type.googleapis.com/google.ads.googleads.v24.errors.GoogleAdsFailure', errors },
                ],
              },
            }
          : {},
      };
    }
    return shape(`unsupported ${request.method} ${request.path}`);
  };

  const http = await startFakeHttp(countOnly ? withoutBodies(handler) : handler);
  return {
    url: http.url,
    tokenUrl: `${http.url}/token`,
    state,
    requests: http.requests,
    credentials,
    controls: {
      failServer(times) {
        serverFailuresLeft = times;
      },
      throttle(times, retryDelaySeconds = 10) {
        throttleLeft = times;
        throttleDelay = retryDelaySeconds;
      },
      concurrentModification(times) {
        concurrentLeft = times;
      },
      rejectValues(values, code = 'INVALID_SHA256_FORMAT') {
        rejected = new Set(values);
        rejectCode = code;
      },
      expireAccessTokens() {
        state.issuedTokens.clear();
      },
      revokeRefreshToken() {
        refreshRevoked = true;
        state.issuedTokens.clear();
      },
      removeList(resourceName) {
        const l = state.lists.get(resourceName);
        if (l) l.removed = true;
      },
      setMembershipStatus(resourceName, status) {
        const l = state.lists.get(resourceName);
        if (l) l.membershipStatus = status;
      },
      setJobPolls(polls) {
        jobPolls = polls;
      },
      failNextJob(reason) {
        failNext = reason;
      },
      setLatency: http.setLatency,
    },
    close: http.close,
  };
}
