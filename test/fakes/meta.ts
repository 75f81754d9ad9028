import { type FakeResponse, mergedParams, type RecordedRequest, SHA256_RE, startFakeHttp } from './http.js';

/**
 * A fake Meta Graph API for custom audiences (loopback). It checks the documented request shapes
 * (create, users add / remove with the multi-key payload, usersreplace sessions), keeps audience
 * state, and can be told to throttle, reject rows, expire the token, delete or restrict an
 * audience, or answer slowly. Answers use Graph's documented bodies and error codes.
 */

export const META_KEYS = [
  'EXTERN_ID',
  'EMAIL',
  'PHONE',
  'GEN',
  'DOBY',
  'DOBM',
  'DOBD',
  'LN',
  'FN',
  'FI',
  'CT',
  'ST',
  'ZIP',
  'COUNTRY',
  'MADID',
  'DATA_PROCESSING_OPTIONS',
] as const;
const UNHASHED = new Set(['EXTERN_ID', 'MADID']);
const PERSON_KEYS = ['EMAIL', 'PHONE', 'MADID', 'EXTERN_ID'];
const MADID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface FakeMetaAudience {
  id: string;
  account: string;
  name: string;
  description: string;
  customer_file_source: string;
  /** Members by identity (`KEY=value` pairs of the row). */
  members: Map<string, Record<string, string>>;
  deleted: boolean;
  restricted: boolean;
  /** `countOnly` fakes: how many people the audience holds (rows added minus rows removed). */
  counted?: number;
}

export interface FakeMetaSession {
  audienceId: string;
  session_id: string;
  num_received: number;
  num_invalid_entries: number;
  num_matched: number;
}

export interface FakeMetaState {
  audiences: Map<string, FakeMetaAudience>;
  sessions: FakeMetaSession[];
  /** Requests whose shape broke the documented contract, with why. */
  shapeErrors: string[];
  token: string;
  /** `countOnly` fakes: one entry per users / usersreplace request, with its valid row count. */
  uploads?: FakeUpload[];
}

/** One upload request as a `countOnly` fake logs it (no identifiers). */
export interface FakeUpload {
  op: 'add' | 'remove' | 'replace';
  rows: number;
}

export interface FakeMetaControls {
  /** The next `times` calls answer with a throttling error (default code 17 / 2446079). */
  throttle(times: number, error?: { code: number; subcode?: number; headers?: Record<string, string> }): void;
  /** Rows carrying one of these values are invalid; Meta names at most `sampleLimit` of them. */
  rejectValues(values: Iterable<string>, reason?: string, sampleLimit?: number): void;
  expireToken(): void;
  deleteAudience(id: string): void;
  restrictAudience(id: string): void;
  /** The next `times` calls fail with HTTP 500 (code 2, transient). */
  failServer(times: number): void;
  setLatency(ms: number): void;
}

export interface FakeMeta {
  url: string;
  state: FakeMetaState;
  controls: FakeMetaControls;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

const VERSION_RE = /^\/v\d+\.\d+\//;

function graphError(
  status: number,
  code: number,
  message: string,
  subcode?: number,
  extra: object = {},
): FakeResponse {
  return {
    status,
    json: {
      error: {
        message,
        type: code === 190 ? 'OAuthException' : 'GraphMethodException',
        code,
        ...(subcode ? { error_subcode: subcode } : {}),
        fbtrace_id: `trace${Math.floor(Math.random() * 1e9)}`,
        ...extra,
      },
    },
  };
}

export interface FakeMetaOptions {
  token?: string;
  /**
   * Validate every request as usual but keep no identities: audiences count their members (adds
   * minus removes, no matching), recorded requests drop their bodies once answered, and
   * `state.uploads` logs each upload's row count. For benchmarks with millions of members.
   */
  countOnly?: boolean;
}

export async function startFakeMeta(options: FakeMetaOptions = {}): Promise<FakeMeta> {
  const countOnly = options.countOnly === true;
  const state: FakeMetaState = {
    audiences: new Map(),
    sessions: [],
    shapeErrors: [],
    token: options.token ?? 'meta-test-token',
    ...(countOnly ? { uploads: [] } : {}),
  };
  let nextId = 23850000000000001n;
  let throttleLeft = 0;
  let throttleError: { code: number; subcode?: number; headers?: Record<string, string> } = {
    code: 17,
    subcode: 2446079,
  };
  let serverFailures = 0;
  let tokenExpired = false;
  /** The token that expired; a new token set in `state.token` works again. */
  let expiredToken = '';
  let rejected = new Set<string>();
  let rejectReason = 'Invalid entry';
  let sampleLimit = Number.POSITIVE_INFINITY;
  const replaceSessions = new Map<
    string,
    { audienceId: string; nextSeq: number; rows: Map<string, Record<string, string>>; counted: number }
  >();
  const sizeOf = (audience: FakeMetaAudience) =>
    countOnly ? (audience.counted ?? 0) : audience.members.size;

  function shape(message: string): FakeResponse {
    state.shapeErrors.push(message);
    return graphError(400, 100, `(#100) ${message}`);
  }

  function audienceOr404(id: string, method: string): FakeAudienceLookup {
    const audience = state.audiences.get(id);
    if (!audience || audience.deleted) {
      return {
        error: graphError(
          400,
          100,
          `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation.`,
          33,
        ),
      };
    }
    return { audience };
  }

  /** Validates `payload` and splits rows into valid identities and invalid samples. */
  function readPayload(
    params: Record<string, unknown>,
  ):
    | { error: FakeResponse }
    | { rows: Record<string, string>[]; invalid: number; samples: Record<string, string>; received: number } {
    const payload = params.payload as { schema?: unknown; data?: unknown } | undefined;
    if (!payload || typeof payload !== 'object') return { error: shape('payload is required') };
    const schema = payload.schema;
    if (!Array.isArray(schema) || schema.length === 0)
      return { error: shape('payload.schema must be a non-empty array') };
    for (const key of schema) {
      if (!META_KEYS.includes(key as (typeof META_KEYS)[number]))
        return { error: shape(`unknown schema key ${String(key)}`) };
    }
    if (new Set(schema).size !== schema.length) return { error: shape('payload.schema repeats a key') };
    const data = payload.data;
    if (!Array.isArray(data)) return { error: shape('payload.data must be an array of rows') };
    if (data.length > 10_000) return { error: shape('payload.data has more than 10000 rows') };
    const rows: Record<string, string>[] = [];
    const samples: Record<string, string> = {};
    let invalid = 0;
    for (const row of data) {
      if (!Array.isArray(row) || row.length !== schema.length)
        return { error: shape('every data row must align with the schema') };
      const identity: Record<string, string> = {};
      let bad: string | undefined;
      schema.forEach((key: string, i: number) => {
        const cell = row[i];
        if (key === 'DATA_PROCESSING_OPTIONS') {
          if (!Array.isArray(cell) || cell.some((c) => c !== 'LDU'))
            bad ??= `DATA_PROCESSING_OPTIONS must be [] or ["LDU"]`;
          return;
        }
        if (typeof cell !== 'string') {
          bad ??= `${key} must be a string`;
          return;
        }
        if (cell === '') return;
        if (!UNHASHED.has(key) && !SHA256_RE.test(cell)) bad ??= `${key} is not a lowercase SHA-256 hash`;
        if (key === 'MADID' && !MADID_RE.test(cell)) bad ??= 'MADID is not a lowercase advertising id';
        identity[key] = cell;
      });
      if (bad) return { error: shape(bad) };
      if (Object.keys(identity).length === 0) return { error: shape('a data row has no identifier') };
      const rejectedValue = Object.values(identity).find((v) => rejected.has(v));
      if (rejectedValue !== undefined) {
        invalid++;
        if (Object.keys(samples).length < sampleLimit) samples[rejectedValue] = rejectReason;
        continue;
      }
      rows.push(identity);
    }
    return { rows, invalid, samples, received: data.length };
  }

  function identityKey(identity: Record<string, string>): string {
    return Object.entries(identity)
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join('&');
  }

  /** Meta matches removals on people, not on shared traits: only person-level keys identify someone. */
  function removeMatching(audience: FakeMetaAudience, identities: readonly Record<string, string>[]): void {
    // One pass over the audience per request (not per row), so 10,000-row removals from large
    // audiences stay fast enough for benchmarks.
    const wanted = new Map(PERSON_KEYS.map((k) => [k, new Set<string>()]));
    for (const identity of identities) {
      for (const k of PERSON_KEYS) if (identity[k] !== undefined) wanted.get(k)!.add(identity[k]!);
    }
    for (const [key, member] of audience.members) {
      if (PERSON_KEYS.some((k) => member[k] !== undefined && wanted.get(k)!.has(member[k]!)))
        audience.members.delete(key);
    }
  }

  function recordSession(audienceId: string, sessionId: string, received: number, invalid: number): void {
    state.sessions.unshift({
      audienceId,
      session_id: sessionId,
      num_received: received,
      num_invalid_entries: invalid,
      num_matched: Math.floor((received - invalid) * 0.6),
    });
  }

  const handler = (request: RecordedRequest): FakeResponse => {
    const params = mergedParams(request);
    const auth = request.headers.authorization;
    const token = auth?.startsWith('Bearer ')
      ? auth.slice(7)
      : typeof params.access_token === 'string'
        ? params.access_token
        : undefined;
    if (!token)
      return graphError(
        400,
        2500,
        'An active access token must be used to query information about the current user.',
      );
    if (tokenExpired && token === expiredToken) {
      return graphError(400, 190, 'Error validating access token: Session has expired on Monday.', 463);
    }
    if (token !== state.token)
      return graphError(400, 190, 'Invalid OAuth access token - Cannot parse access token', 0);
    if (throttleLeft > 0) {
      throttleLeft--;
      return {
        ...graphError(400, throttleError.code, '(#17) User request limit reached', throttleError.subcode),
        headers: throttleError.headers ?? {},
      };
    }
    if (serverFailures > 0) {
      serverFailures--;
      return graphError(
        500,
        2,
        'An unexpected error has occurred. Please retry your request later.',
        undefined,
        { is_transient: true },
      );
    }
    if (!VERSION_RE.test(request.path)) return shape(`path ${request.path} has no API version`);
    const parts = request.path.replace(VERSION_RE, '').split('/').filter(Boolean);

    // /act_<id>/customaudiences
    if (parts.length === 2 && parts[0]!.startsWith('act_') && parts[1] === 'customaudiences') {
      const account = parts[0]!;
      if (!/^act_\d+$/.test(account)) return shape('ad account id must be act_<digits>');
      if (request.method === 'GET') {
        const all = [...state.audiences.values()].filter((a) => a.account === account && !a.deleted);
        const limit = Number(params.limit ?? 25);
        const start = params.after ? Number(Buffer.from(String(params.after), 'base64').toString()) : 0;
        const page = all.slice(start, start + limit);
        const more = start + limit < all.length;
        return {
          status: 200,
          json: {
            data: page.map((a) => ({ id: a.id, name: a.name })),
            paging: {
              cursors: {
                before: Buffer.from(String(start)).toString('base64'),
                after: Buffer.from(String(start + limit)).toString('base64'),
              },
              ...(more
                ? { next: `${request.path}?after=${Buffer.from(String(start + limit)).toString('base64')}` }
                : {}),
            },
          },
        };
      }
      if (request.method === 'POST') {
        if (typeof params.name !== 'string' || params.name.length === 0) return shape('name is required');
        if (params.subtype !== 'CUSTOM') return shape('subtype must be CUSTOM');
        if (
          !['USER_PROVIDED_ONLY', 'PARTNER_PROVIDED_ONLY', 'BOTH_USER_AND_PARTNER_PROVIDED'].includes(
            String(params.customer_file_source),
          )
        ) {
          return shape('customer_file_source is required for customer file audiences');
        }
        const id = String(nextId++);
        state.audiences.set(id, {
          id,
          account,
          name: params.name,
          description: typeof params.description === 'string' ? params.description : '',
          customer_file_source: String(params.customer_file_source),
          members: new Map(),
          deleted: false,
          restricted: false,
          ...(countOnly ? { counted: 0 } : {}),
        });
        return { status: 200, json: { id } };
      }
    }

    // /<audience_id>[/users|/usersreplace|/sessions]
    const id = parts[0] ?? '';
    if (!/^\d+$/.test(id)) return shape(`unknown path ${request.path}`);
    const found = audienceOr404(id, request.method);
    if ('error' in found) return found.error;
    const audience = found.audience;

    if (parts.length === 1) {
      if (request.method === 'GET') {
        const size = sizeOf(audience);
        return {
          status: 200,
          json: {
            id: audience.id,
            name: audience.name,
            approximate_count_lower_bound: size < 1000 ? -1 : Math.round(size * 0.9),
            approximate_count_upper_bound: size < 1000 ? -1 : Math.round(size * 1.1),
            operation_status: audience.restricted
              ? { code: 471, description: 'Audience flagged' }
              : { code: 200, description: 'Normal' },
            delivery_status: { code: 200 },
          },
        };
      }
      if (request.method === 'DELETE') {
        audience.deleted = true;
        return { status: 200, json: { success: true } };
      }
    }
    if (parts.length === 2 && parts[1] === 'sessions' && request.method === 'GET') {
      return {
        status: 200,
        json: {
          data: state.sessions.filter((s) => s.audienceId === id).slice(0, Number(params.limit ?? 25)),
        },
      };
    }
    if (parts.length === 2 && (parts[1] === 'users' || parts[1] === 'usersreplace')) {
      if (audience.restricted) {
        return graphError(400, 100, 'Invalid parameter', 1713230, {
          error_user_title: 'Audience Upload Blocked',
          error_user_msg:
            'Before updating user memberships, you must resolve integrity restrictions on this Data File Custom Audience.',
        });
      }
      if (request.query.payload !== undefined)
        return shape('payload must be sent in the body, not the query string');
      const read = readPayload(params);
      if ('error' in read) return read.error;
      if (parts[1] === 'users') {
        if (request.method !== 'POST' && request.method !== 'DELETE')
          return shape(`${request.method} is not supported on /users`);
        if (countOnly) {
          // No identities kept: rows are counted, not matched. A client that re-added a member or
          // removed a stranger shows as a size other than the audience it meant to send.
          const delta = request.method === 'POST' ? read.rows.length : -read.rows.length;
          audience.counted = Math.max(0, (audience.counted ?? 0) + delta);
          state.uploads?.push({ op: request.method === 'POST' ? 'add' : 'remove', rows: read.rows.length });
        } else if (request.method === 'POST') {
          for (const identity of read.rows) audience.members.set(identityKey(identity), identity);
        } else removeMatching(audience, read.rows);
        const sessionId = String(Math.floor(Math.random() * 1e15));
        recordSession(id, sessionId, read.received, read.invalid);
        return {
          status: 200,
          json: {
            audience_id: id,
            session_id: sessionId,
            num_received: read.received,
            num_invalid_entries: read.invalid,
            invalid_entry_samples: read.samples,
          },
        };
      }
      // usersreplace
      if (request.method !== 'POST') return shape('usersreplace takes POST');
      const session = params.session as Record<string, unknown> | undefined;
      if (!session || typeof session !== 'object') return shape('session is required for usersreplace');
      const { session_id, batch_seq, last_batch_flag, estimated_num_total } = session;
      if (typeof session_id !== 'number' && typeof session_id !== 'string')
        return shape('session.session_id is required');
      if (typeof batch_seq !== 'number' || batch_seq < 1) return shape('session.batch_seq must start at 1');
      if (typeof last_batch_flag !== 'boolean') return shape('session.last_batch_flag must be a boolean');
      if (typeof estimated_num_total !== 'number') return shape('session.estimated_num_total is required');
      const key = String(session_id);
      const open = replaceSessions.get(key) ?? { audienceId: id, nextSeq: 1, rows: new Map(), counted: 0 };
      if (batch_seq !== open.nextSeq)
        return shape(`session.batch_seq ${batch_seq} out of order (expected ${open.nextSeq})`);
      open.nextSeq++;
      if (countOnly) {
        open.counted += read.rows.length;
        state.uploads?.push({ op: 'replace', rows: read.rows.length });
      } else for (const identity of read.rows) open.rows.set(identityKey(identity), identity);
      replaceSessions.set(key, open);
      if (last_batch_flag) {
        audience.members = open.rows;
        if (countOnly) audience.counted = open.counted;
        replaceSessions.delete(key);
      }
      recordSession(id, key, read.received, read.invalid);
      return {
        status: 200,
        json: {
          account_id: audience.account.slice(4),
          session_id: key,
          num_received: read.received,
          num_invalid_entries: read.invalid,
          invalid_entry_samples: read.samples,
        },
      };
    }
    return shape(`unsupported ${request.method} ${request.path}`);
  };

  const http = await startFakeHttp(countOnly ? withoutBodies(handler) : handler);
  return {
    url: http.url,
    state,
    requests: http.requests,
    controls: {
      throttle(times, error) {
        throttleLeft = times;
        throttleError = error ?? { code: 17, subcode: 2446079 };
      },
      rejectValues(values, reason = 'Invalid entry', limit = Number.POSITIVE_INFINITY) {
        rejected = new Set(values);
        rejectReason = reason;
        sampleLimit = limit;
      },
      expireToken() {
        tokenExpired = true;
        expiredToken = state.token;
      },
      deleteAudience(id) {
        const a = state.audiences.get(id);
        if (a) a.deleted = true;
      },
      restrictAudience(id) {
        const a = state.audiences.get(id);
        if (a) a.restricted = true;
      },
      failServer(times) {
        serverFailures = times;
      },
      setLatency: http.setLatency,
    },
    close: http.close,
  };
}

type FakeAudienceLookup = { audience: FakeMetaAudience } | { error: FakeResponse };

/**
 * The handler, after which the recorded request keeps its method, path, query and headers but not
 * its body (a 10,000-row upload is megabytes): what `countOnly` fakes record.
 */
export function withoutBodies(
  handler: (request: RecordedRequest) => FakeResponse | Promise<FakeResponse>,
): (request: RecordedRequest) => Promise<FakeResponse> {
  return async (request) => {
    try {
      return await handler(request);
    } finally {
      request.body = undefined;
      request.rawBody = '';
    }
  };
}
