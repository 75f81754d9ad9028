import type { z } from 'zod';
import type { PersonRecord } from '../../src/contract/records.js';
import type { RetryOptions } from './retry.js';

/**
 * The connector contract. A connector is a definition object (Segment action-destinations style),
 * not a class hierarchy: static facts (id, API version, config schema, capabilities), one pure
 * function (`matchKeys`) and a handful of I/O functions that each take a context. The sync engine
 * owns plans, ledgers and retries; a connector owns one platform's payloads, limits and errors.
 */

/** The YAML `type` of a destination (see `DESTINATION_TYPES` in src/config/schema.ts). */
export type ConnectorId = 'meta' | 'google_ads' | 'tiktok' | 'customerio' | 'dry_run';

/**
 * Identifier vocabulary shared by every platform, so the engine can store keys in its ledger and
 * report coverage / match rate per identifier type without knowing platform key names.
 * Values are platform-normalized and, where the platform wants it, SHA-256 hex.
 */
export type IdentifierType =
  | 'email'
  | 'phone'
  | 'first_name'
  | 'last_name'
  | 'first_initial'
  | 'city'
  | 'region'
  | 'postal_code'
  | 'country'
  | 'gender'
  | 'birth_year'
  | 'birth_month'
  | 'birth_day'
  | 'maid'
  | 'external_id';

export const IDENTIFIER_TYPES: readonly IdentifierType[] = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'first_initial',
  'city',
  'region',
  'postal_code',
  'country',
  'gender',
  'birth_year',
  'birth_month',
  'birth_day',
  'maid',
  'external_id',
];

/** One person's keys for one platform. Never raw PII: hashed, or a value the platform wants plain. */
export type MatchKeys = Partial<Record<IdentifierType, string>>;

/** Google's consent vocabulary; the other platforms ignore it. */
export type ConsentState = 'GRANTED' | 'DENIED' | 'UNSPECIFIED';

export interface RowConsent {
  adUserData: ConsentState;
  adPersonalization: ConsentState;
  /** The person's country is in the EEA (EEA people need both consents granted to be added). */
  eea: boolean;
}

export type AttributeValue = string | number | boolean | null;

/**
 * One person in one batch. `key` is the stable row key (customer_id) the results refer to.
 * `keys` comes from the connector's own `matchKeys`; `consent` matters to Google;
 * `attributes` is what a write-back connector (Customer.io) sets on the person.
 */
export interface SyncRow {
  key: string;
  keys: MatchKeys;
  consent?: RowConsent;
  attributes?: Record<string, AttributeValue>;
}

export type SyncOp = 'add' | 'remove';

export type RowStatus =
  /** The platform took it (for `asyncJobs` connectors: staged, confirmed by `finalize`). */
  | 'accepted'
  /** The platform (or the connector, before sending) refused this row. Do not resend unchanged. */
  | 'rejected'
  /** Not sent: nothing usable for this platform (no identifiers / no attributes). */
  | 'skipped';

export interface RowResult {
  key: string;
  status: RowStatus;
  /** Machine-readable reason for `rejected` / `skipped` (e.g. `no_identifiers`, `INVALID_ENCODING`). */
  code?: string;
  /** One line for people; never contains PII. */
  reason?: string;
}

/** Failures the platform reported without saying which row (e.g. Meta invalid counts beyond samples). */
export interface UnattributedFailure {
  count: number;
  code: string;
  message: string;
}

/** JSON-serializable state a connector carries across the batches of one run (see README). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type ConnectorSession = { [key: string]: JsonValue };

export interface EnsureAudienceInput {
  /** Our audience id (YAML `audiences[].id`). */
  audienceId: string;
  /** The platform-side name; find-or-create matches on it exactly. */
  name: string;
  description?: string;
}

export interface EnsureAudienceResult {
  platformAudienceId: string;
  /** A new audience was created by this call. */
  created: boolean;
  /** Set when an existing audience takes no new members: the platform's reason (see `describe`). */
  closed?: string;
}

export interface PushInput {
  audienceId: string;
  platformAudienceId: string;
  op: SyncOp;
  rows: readonly SyncRow[];
  /** The session returned by the previous push / replace of this run (persist it with the checkpoint). */
  session?: ConnectorSession;
}

export interface PushResult {
  /** Exactly one per input row, in input order. */
  rows: RowResult[];
  unattributed: UnattributedFailure[];
  /** Pass to the next push / replace / finalize of this run. */
  session?: ConnectorSession;
  /** HTTP requests this call made (for metrics; dry-run: requests it wrote). */
  requests: number;
}

export interface ReplaceInput {
  audienceId: string;
  platformAudienceId: string;
  rows: readonly SyncRow[];
  /** True for the final batch of the replacement. */
  last: boolean;
  /** How many people the whole replacement will send (Meta wants an estimate). */
  estimatedTotal: number;
  session?: ConnectorSession;
}

export interface FinalizeInput {
  audienceId: string;
  platformAudienceId: string;
  session?: ConnectorSession;
  /** How long to wait for asynchronous jobs before answering `pending` (default 0: check once). */
  maxWaitMs?: number;
}

export interface FinalizeResult {
  /** `pending`: call `finalize` again later with the returned session. */
  status: 'complete' | 'pending' | 'failed';
  session?: ConnectorSession;
  failures: UnattributedFailure[];
  /** What the platform said, per job (ids and statuses only). */
  details?: ConnectorSession;
}

export interface AudienceDescription {
  platformAudienceId: string;
  name?: string;
  /** Size as the platform reports it (`null` while it has not computed one). */
  size: number | null;
  sizeLowerBound?: number;
  sizeUpperBound?: number;
  /** 0..1 when the platform reports one. */
  matchRate?: number | null;
  status?: string;
  /**
   * Set when the audience exists but takes no new members (Google Ads: membership status CLOSED),
   * in the platform's terms. The sync engine stops with `AudienceClosedError` rather than upload
   * into it.
   */
  closed?: string;
  /** The platform's own fields, ids and counts only. */
  raw: ConnectorSession;
}

export type ReplaceStrategy =
  /** Meta `usersreplace`: batches in one replace session. */
  | 'session'
  /** Google: a job whose first operation is `removeAll`, then the adds. */
  | 'remove_all_then_add'
  /** TikTok customer-file API: upload files, then one update with action REPLACE. */
  | 'file_replace'
  | 'none';

export interface Capabilities {
  /** Hard upper bound of rows per `push` (a config `batch_size` can only lower it). */
  maxBatchSize: number;
  identifierTypes: readonly IdentifierType[];
  addsAndRemovesShareRequest: boolean;
  /** `push` only stages rows; `finalize` runs them and reports the outcome. */
  asyncJobs: boolean;
  /** The platform's minimum audience size (it may refuse removals below it); `null` if none. */
  minAudienceSize: number | null;
  replaceStrategy: ReplaceStrategy;
  /**
   * The platform can close an audience to new members while it keeps accepting uploads into it
   * (Google Ads: membership status CLOSED), so a run that adds people must look first: `describe`
   * and `ensureAudience` report it as `closed`. A targeted run trusts a recent look (see
   * src/sync/platform-audience.ts).
   */
  audiencesClose?: boolean;
  /**
   * Rows that can never share an upload request, by a key of the row (Google: one offline job per
   * consent state). The engine cuts its batches within a group, so a plan costs the minimum of
   * ceil(rows of the group / batch size) requests per group instead of one per group per batch.
   */
  requestGroup?: (row: SyncRow, op: 'add' | 'remove' | 'replace') => string;
}

/** Where a connector's HTTP goes: the env variable that overrides it and the real default. */
export interface EndpointSpec {
  env:
    | 'META_GRAPH_URL'
    | 'GOOGLE_ADS_API_URL'
    | 'GOOGLE_OAUTH_TOKEN_URL'
    | 'TIKTOK_API_URL'
    | 'CIO_TRACK_URL';
  default: string;
}

/**
 * What connectors log to: pino's shape, so the application passes its own logger (with its
 * redaction) and connectors need nothing from it.
 */
export interface ConnectorLogger {
  child(bindings: Record<string, unknown>): ConnectorLogger;
  debug: ConnectorLogFn;
  info: ConnectorLogFn;
  warn: ConnectorLogFn;
  error: ConnectorLogFn;
}
export interface ConnectorLogFn {
  (object: object, message?: string): void;
  (message: string): void;
}

/**
 * Where a dry run writes the request bodies it would send. The sync engine provides it (the object
 * store's `outbox/<destination>/<audience>/<run>/`); `write` returns where the document went.
 */
export interface Outbox {
  write(destination: string, audienceId: string, name: string, document: unknown): Promise<string>;
}

/** What one I/O call gets. Built by `createConnectorContext`; tests build it with fakes. */
export interface ConnectorContext<Config = unknown> {
  /** The destination block, validated by the connector's `configSchema`. */
  config: Config;
  /** The destination's name in the YAML (outbox keys, logs). */
  destination: string;
  /** Resolved base URLs, by the names in the definition's `endpoints`. */
  urls: Readonly<Record<string, string>>;
  fetch: typeof fetch;
  log: ConnectorLogger;
  /** Per-request timeout. */
  timeoutMs: number;
  sleep: (ms: number) => Promise<void>;
  /** For dry-run: where request bodies go. */
  outbox?: Outbox;
  /** Per-context memo (e.g. an OAuth access token), never persisted. */
  cache: Map<string, unknown>;
  /**
   * Set by the sync for the operations that make several requests (`ensureAudience`, `describe`):
   * each request the connector makes is retried on its own with these options (`retryingRequest`
   * in core/retry.ts). Absent (pushes, finalize, the CLI's own calls): every request is made once
   * and the caller retries the whole call.
   */
  retry?: RetryOptions;
}

/** The exact HTTP request a connector would send, without credentials (dry-run writes these). */
export interface DraftRequest {
  method: 'GET' | 'POST' | 'DELETE';
  /** Path relative to the endpoint's base URL, including the API version. */
  path: string;
  endpoint?: string;
  query?: Record<string, string>;
  /** JSON body. */
  body?: JsonValue;
  /** Multipart form fields (TikTok file upload): text fields and one file. */
  multipart?: { fields: Record<string, string>; file: { field: string; name: string; content: string } };
}

/**
 * The requests for one batch. `rows` has one result per input row, in order: `accepted` for rows
 * the requests carry (provisional until the platform answers), `skipped` / `rejected` for rows
 * that are not sent.
 */
export interface DraftBatch {
  requests: DraftRequest[];
  rows: RowResult[];
  /** Session state to carry to the next batch (e.g. Meta's replace session id and sequence). */
  session?: ConnectorSession;
}

/** Pure request drafting, shared by a connector's push and by the dry-run emulation of it. */
export interface Drafts<Options = unknown> {
  /** Non-secret options (the config without credentials), with defaults. */
  optionsSchema: z.ZodType<Options>;
  ensureAudience(options: Options, input: EnsureAudienceInput): DraftRequest[];
  push(options: Options, input: PushInput): DraftBatch;
  replace?(options: Options, input: ReplaceInput): DraftBatch;
}

/**
 * A connector. The I/O members are method signatures on purpose: TypeScript then lets every
 * `ConnectorDefinition<MetaConfig>` sit in one registry typed `ConnectorDefinition<unknown>`.
 */
export interface ConnectorDefinition<Config = unknown> {
  id: ConnectorId;
  title: string;
  /** The pinned platform API version, one constant. */
  apiVersion: string;
  /** Validates the destination block, including `type`; rejects `{}`. */
  configSchema: z.ZodType<Config>;
  /** Config keys holding credentials: dry-run strips them, nothing logs them. */
  secretFields: readonly string[];
  endpoints: Readonly<Record<string, EndpointSpec>>;
  capabilities: Capabilities;
  /**
   * Pure: platform-normalized, hashed keys for one person; `null` when nothing is usable. The
   * destination config may change which keys count (Meta EXTERN_ID, Google upload key type);
   * without it the defaults apply.
   */
  matchKeys(person: PersonRecord, config?: Config): MatchKeys | null;
  /** Request drafting, when the platform's payloads can be emulated by dry-run. */
  drafts?: Drafts;
  ensureAudience(ctx: ConnectorContext<Config>, input: EnsureAudienceInput): Promise<EnsureAudienceResult>;
  /** One batch (≤ `batchSizeFor(config)` rows). */
  push(ctx: ConnectorContext<Config>, input: PushInput): Promise<PushResult>;
  /** One batch of a full replacement; present when `capabilities.replaceStrategy !== 'none'`. */
  replace?(ctx: ConnectorContext<Config>, input: ReplaceInput): Promise<PushResult>;
  /** Completes what pushes staged (runs Google jobs); a no-op for synchronous platforms. */
  finalize(ctx: ConnectorContext<Config>, input: FinalizeInput): Promise<FinalizeResult>;
  describe(ctx: ConnectorContext<Config>, platformAudienceId: string): Promise<AudienceDescription>;
}

export type AnyConnector = ConnectorDefinition<unknown>;
