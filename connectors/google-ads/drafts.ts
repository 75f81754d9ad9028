import { accepted, skipped } from '../core/batching.js';
import { mayAddToGoogle } from '../core/consent.js';
import { rejected } from '../core/results.js';
import type {
  ConnectorSession,
  DraftBatch,
  DraftRequest,
  Drafts,
  EnsureAudienceInput,
  JsonValue,
  MatchKeys,
  PushInput,
  ReplaceInput,
  RowConsent,
  RowResult,
  SyncRow,
} from '../core/types.js';
import {
  GOOGLE_ADS_API_VERSION,
  GOOGLE_MAX_IDENTIFIERS_PER_PERSON,
  GOOGLE_MAX_IDENTIFIERS_PER_REQUEST,
  type GoogleOptions,
  googleOptionsSchema,
} from './config.js';
import type {
  AddOfflineUserDataJobOperationsRequest,
  ConsentStatusName,
  CreateOfflineUserDataJobRequest,
  MutateUserListsRequest,
  OfflineUserDataJobOperation,
  UserIdentifier,
} from './rest-types.js';

/**
 * Google Customer Match request bodies, pure. One UserData per person (never several people in
 * one operation), adds and removes in separate jobs, one job per consent state (consent is set
 * per job), and addOperations requests split so none carries more than 100,000 identifiers.
 */

const V = GOOGLE_ADS_API_VERSION;

/** The identifiers of one person for the list's key type. */
export function userIdentifiers(
  keys: MatchKeys,
  uploadKeyType: GoogleOptions['upload_key_type'],
): UserIdentifier[] {
  const ids: UserIdentifier[] = [];
  if (uploadKeyType === 'CRM_ID') {
    if (keys.external_id) ids.push({ thirdPartyUserId: keys.external_id });
    return ids;
  }
  if (uploadKeyType === 'MOBILE_ADVERTISING_ID') {
    if (keys.maid) ids.push({ mobileId: keys.maid });
    return ids;
  }
  if (keys.email) ids.push({ hashedEmail: keys.email });
  if (keys.phone) ids.push({ hashedPhoneNumber: keys.phone });
  if (keys.first_name && keys.last_name && keys.country && keys.postal_code) {
    ids.push({
      addressInfo: {
        hashedFirstName: keys.first_name,
        hashedLastName: keys.last_name,
        countryCode: keys.country,
        postalCode: keys.postal_code,
      },
    });
  }
  return ids.slice(0, GOOGLE_MAX_IDENTIFIERS_PER_PERSON);
}

export type GoogleJobOp = 'add' | 'remove' | 'replace';

export interface GoogleJobState {
  name: string;
  op: GoogleJobOp;
  /** `GRANTED/UNSPECIFIED` style consent group ('-' for remove jobs, which carry no consent). */
  group: string;
  state: 'open' | 'running' | 'done' | 'failed';
  operations: number;
  removeAll?: boolean;
  failureReason?: string;
}

export interface GoogleSession {
  jobs: GoogleJobState[];
  removeAllSent?: boolean;
}

export function googleSession(session: ConnectorSession | undefined): GoogleSession {
  const g = session?.google as unknown as GoogleSession | undefined;
  return {
    jobs: (g?.jobs ?? []).map((j) => ({ ...j })),
    ...(g?.removeAllSent ? { removeAllSent: true } : {}),
  };
}

export function withGoogleSession(session: ConnectorSession | undefined, g: GoogleSession): ConnectorSession {
  return { ...session, google: g as unknown as JsonValue };
}

export function consentGroup(consent: RowConsent | undefined): string {
  return `${consent?.adUserData ?? 'UNSPECIFIED'}/${consent?.adPersonalization ?? 'UNSPECIFIED'}`;
}

export function consentOfGroup(group: string): {
  adUserData: ConsentStatusName;
  adPersonalization: ConsentStatusName;
} {
  const [adUserData, adPersonalization] = group.split('/') as [ConsentStatusName, ConsentStatusName];
  return { adUserData, adPersonalization };
}

export interface PlannedGroup {
  op: GoogleJobOp;
  group: string;
  /** Operations in order, with the input row index each came from (-1 for `removeAll`). */
  operations: OfflineUserDataJobOperation[];
  rowIndex: number[];
  identifiers: number[];
}

/**
 * Sorts a batch into per-job operation groups. Rows without identifiers are skipped; on add, a
 * row whose consent forbids adding (EEA without both grants, or any denial) is rejected unsent.
 */
export function planGroups(
  options: GoogleOptions,
  op: GoogleJobOp,
  rows: readonly SyncRow[],
  removeAllFirst: boolean,
): { groups: PlannedGroup[]; rows: RowResult[] } {
  const results: RowResult[] = [];
  const groups = new Map<string, PlannedGroup>();
  for (const [index, row] of rows.entries()) {
    const ids = userIdentifiers(row.keys, options.upload_key_type);
    if (ids.length === 0) {
      results.push(
        skipped(row.key, 'no_identifiers', `no identifier usable for a ${options.upload_key_type} list`),
      );
      continue;
    }
    if (op !== 'remove' && !mayAddToGoogle(row.consent)) {
      results.push(
        rejected(
          row.key,
          'consent_required',
          'Google: EEA people need ad_user_data and ad_personalization granted; remove instead',
        ),
      );
      continue;
    }
    const group = op === 'remove' ? '-' : consentGroup(row.consent);
    let planned = groups.get(group);
    if (!planned) {
      planned = { op, group, operations: [], rowIndex: [], identifiers: [] };
      if (removeAllFirst && groups.size === 0) {
        planned.operations.push({ removeAll: true });
        planned.rowIndex.push(-1);
        planned.identifiers.push(0);
      }
      groups.set(group, planned);
    }
    planned.operations.push(
      op === 'remove' ? { remove: { userIdentifiers: ids } } : { create: { userIdentifiers: ids } },
    );
    planned.rowIndex.push(index);
    planned.identifiers.push(ids.length);
    results.push(accepted(row.key));
  }
  if (removeAllFirst && groups.size === 0) {
    // An empty replacement still empties the list.
    groups.set('UNSPECIFIED/UNSPECIFIED', {
      op,
      group: 'UNSPECIFIED/UNSPECIFIED',
      operations: [{ removeAll: true }],
      rowIndex: [-1],
      identifiers: [0],
    });
  }
  return { groups: [...groups.values()], rows: results };
}

/** One addOperations request: its body and which input row each operation came from. */
export interface AddOperationsChunk {
  draft: DraftRequest;
  rowIndex: number[];
}

export function addOperationsDrafts(jobName: string, planned: PlannedGroup): AddOperationsChunk[] {
  const chunks: AddOperationsChunk[] = [];
  let ops: OfflineUserDataJobOperation[] = [];
  let rowIndex: number[] = [];
  let identifiers = 0;
  const flush = () => {
    if (ops.length === 0) return;
    const body: AddOfflineUserDataJobOperationsRequest = { enablePartialFailure: true, operations: ops };
    chunks.push({
      draft: { method: 'POST', path: `/${V}/${jobName}:addOperations`, body: body as JsonValue },
      rowIndex,
    });
    ops = [];
    rowIndex = [];
    identifiers = 0;
  };
  planned.operations.forEach((operation, i) => {
    const count = planned.identifiers[i]!;
    if (identifiers + count > GOOGLE_MAX_IDENTIFIERS_PER_REQUEST) flush();
    ops.push(operation);
    rowIndex.push(planned.rowIndex[i]!);
    identifiers += count;
  });
  flush();
  return chunks;
}

export function createJobDraft(
  options: GoogleOptions,
  userList: string,
  op: GoogleJobOp,
  group: string,
): DraftRequest {
  const body: CreateOfflineUserDataJobRequest = {
    job: {
      type: 'CUSTOMER_MATCH_USER_LIST',
      customerMatchUserListMetadata: {
        userList,
        // Consent is what Google checks before adding people; removal jobs carry none.
        ...(op === 'remove' ? {} : { consent: consentOfGroup(group) }),
      },
    },
  };
  return {
    method: 'POST',
    path: `/${V}/customers/${options.customer_id ?? 'CUSTOMER_ID'}/offlineUserDataJobs:create`,
    body: body as JsonValue,
  };
}

export function createListDraft(options: GoogleOptions, input: EnsureAudienceInput): DraftRequest {
  const body: MutateUserListsRequest = {
    operations: [
      {
        create: {
          name: input.name,
          description: input.description ?? `audience-sync: ${input.audienceId}`,
          membershipLifeSpan: options.membership_life_span_days,
          crmBasedUserList: {
            uploadKeyType: options.upload_key_type,
            ...(options.app_id ? { appId: options.app_id } : {}),
          },
        },
      },
    ],
  };
  return {
    method: 'POST',
    path: `/${V}/customers/${options.customer_id ?? 'CUSTOMER_ID'}/userLists:mutate`,
    body: body as JsonValue,
  };
}

export function runJobDraft(jobName: string): DraftRequest {
  return { method: 'POST', path: `/${V}/${jobName}:run`, body: {} };
}

/** GAQL string literal. */
export function gaqlString(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function searchDraft(options: GoogleOptions, query: string): DraftRequest {
  return {
    method: 'POST',
    path: `/${V}/customers/${options.customer_id ?? 'CUSTOMER_ID'}/googleAds:search`,
    body: { query },
  };
}

/**
 * Dry-run drafting: the same groups and bodies, with jobs named after their purpose since no job
 * exists. Job-creation requests appear once per job, the first time a batch needs it.
 */
function draftBatch(options: GoogleOptions, input: PushInput | ReplaceInput, op: GoogleJobOp): DraftBatch {
  const session = googleSession(input.session);
  const removeAllFirst = op === 'replace' && !session.removeAllSent;
  const planned = planGroups(options, op, input.rows, removeAllFirst);
  const requests: DraftRequest[] = [];
  for (const group of planned.groups) {
    let job = session.jobs.find((j) => j.op === op && j.group === group.group && j.state === 'open');
    if (!job) {
      requests.push(createJobDraft(options, input.platformAudienceId, op, group.group));
      job = {
        name: `customers/${options.customer_id ?? 'CUSTOMER_ID'}/offlineUserDataJobs/DRY_RUN_${session.jobs.length + 1}`,
        op,
        group: group.group,
        state: 'open',
        operations: 0,
      };
      session.jobs.push(job);
    }
    for (const chunk of addOperationsDrafts(job.name, group)) requests.push(chunk.draft);
    job.operations += group.operations.length;
  }
  if (removeAllFirst) session.removeAllSent = true;
  return { requests, rows: planned.rows, session: withGoogleSession(input.session, session) };
}

export const googleDrafts: Drafts<GoogleOptions> = {
  optionsSchema: googleOptionsSchema,
  ensureAudience: (options, input) => [createListDraft(options, input)],
  push: (options, input) => draftBatch(options, input, input.op),
  replace: (options, input) => draftBatch(options, input, 'replace'),
};
