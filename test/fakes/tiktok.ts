import { hash } from 'node:crypto';
import { type FakeResponse, type Multipart, type RecordedRequest, SHA256_RE, startFakeHttp } from './http.js';
import { withoutBodies } from './meta.js';

/**
 * A fake TikTok Business API v1.3 (loopback): Access-Token header, HTTP 200 envelopes
 * `{code, message, request_id, data}`, segment audience create + mapping add / delete with
 * `id_schema` alignment, custom audience list / get / delete, and the customer-file API (upload
 * with MD5 signature, update with an explicit action, 1,000-person minimum). It can throttle
 * (non-zero codes), fail the next call, expire the token, delete an audience, or be slow.
 */

const ID_SCHEMAS = ['EMAIL_SHA256', 'PHONE_SHA256', 'IDFA_SHA256', 'GAID_SHA256'];

export interface FakeTiktokAudience {
  id: string;
  name: string;
  members: Set<string>;
  deleted: boolean;
  /** `countOnly` fakes: how many people the audience holds (mapped minus unmapped people). */
  counted?: number;
}

export interface FakeTiktokState {
  advertiserId: string;
  token: string;
  audiences: Map<string, FakeTiktokAudience>;
  files: Map<string, { calculateType: string; lines: string[] }>;
  updates: Array<{ audienceId: string; action: string; file_paths: string[] }>;
  shapeErrors: string[];
  /** `countOnly` fakes: one entry per segment mapping request, with its people count (no identifiers). */
  uploads?: FakeTiktokUpload[];
  /** Other fakes: each accepted segment mapping request's people, in arrival order. */
  batches: FakeTiktokBatch[];
}

export interface FakeTiktokBatch {
  action: 'add' | 'delete';
  /** The audiences the request's people were mapped to or from, sorted. */
  audiences: string[];
  /** One entry per person: its `batch_data` entry as JSON (identifiers and audience ids). */
  rows: string[];
}

export interface FakeTiktokUpload {
  op: 'add' | 'remove';
  rows: number;
}

export interface FakeTiktokControls {
  /** The next `times` calls answer code 40100 "Too many requests". */
  throttle(times: number): void;
  /** The next call answers this non-zero code and message. */
  failNext(code: number, message: string): void;
  expireToken(): void;
  deleteAudience(id: string): void;
  setLatency(ms: number): void;
}

export interface FakeTiktok {
  url: string;
  state: FakeTiktokState;
  controls: FakeTiktokControls;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startFakeTiktok(
  options: {
    advertiserId?: string;
    token?: string;
    /**
     * Validate every request as usual but keep no identities on segment mapping: audiences count
     * their people (added minus deleted, no matching), recorded requests drop their bodies once
     * answered, and `state.uploads` logs each mapping request. The customer-file API (used only
     * by replacements) keeps its lines either way. For benchmarks.
     */
    countOnly?: boolean;
  } = {},
): Promise<FakeTiktok> {
  const countOnly = options.countOnly === true;
  const state: FakeTiktokState = {
    advertiserId: options.advertiserId ?? '7000000000',
    token: options.token ?? 'tiktok-test-token',
    audiences: new Map(),
    files: new Map(),
    updates: [],
    shapeErrors: [],
    batches: [],
    ...(countOnly ? { uploads: [] } : {}),
  };
  const sizeOf = (a: FakeTiktokAudience) => (countOnly ? (a.counted ?? 0) : a.members.size);
  let nextId = 1700000000000001n;
  let throttleLeft = 0;
  let failure: { code: number; message: string } | undefined;
  let tokenExpired = false;
  let fileCounter = 0;

  const ok = (data: unknown = {}): FakeResponse => ({
    status: 200,
    json: { code: 0, message: 'OK', request_id: `r${Date.now()}`, data },
  });
  const fail = (code: number, message: string): FakeResponse => ({
    status: 200,
    json: { code, message, request_id: `r${Date.now()}`, data: {} },
  });
  function shape(message: string): FakeResponse {
    state.shapeErrors.push(message);
    return fail(40002, message);
  }
  function audience(id: unknown): FakeTiktokAudience | undefined {
    const a = state.audiences.get(String(id));
    return a && !a.deleted ? a : undefined;
  }

  const handler = (request: RecordedRequest): FakeResponse => {
    const token = request.headers['access-token'];
    if (!token) return fail(40104, 'Access token is null, please check.');
    if (token !== state.token || tokenExpired)
      return fail(40105, 'Access token is incorrect or has been revoked.');
    if (request.headers.authorization) return shape('TikTok takes Access-Token, not Authorization');
    if (throttleLeft > 0) {
      throttleLeft--;
      return fail(40100, 'Too many requests. Please retry in some time.');
    }
    if (failure) {
      const f = failure;
      failure = undefined;
      return fail(f.code, f.message);
    }
    const base = '/open_api/v1.3';
    if (!request.path.startsWith(base)) return shape(`path ${request.path} is not under ${base}`);
    const path = request.path.slice(base.length);
    const body = (request.body ?? {}) as Record<string, unknown>;

    if (path === '/segment/audience/' && request.method === 'POST') {
      if (body.action !== 'create') return shape('action must be "create"');
      if (body.advertiser_id !== state.advertiserId) return shape('advertiser_id does not match');
      if (typeof body.custom_audience_name !== 'string' || !body.custom_audience_name)
        return shape('custom_audience_name is required');
      const id = String(nextId++);
      state.audiences.set(id, {
        id,
        name: body.custom_audience_name,
        members: new Set(),
        deleted: false,
        ...(countOnly ? { counted: 0 } : {}),
      });
      return ok({ audience_id: id });
    }
    if (path === '/segment/mapping/' && request.method === 'POST') {
      if (
        !Array.isArray(body.advertiser_ids) ||
        body.advertiser_ids.length !== 1 ||
        body.advertiser_ids[0] !== state.advertiserId
      ) {
        return shape('advertiser_ids must be [advertiser_id]');
      }
      if (body.action !== 'add' && body.action !== 'delete') return shape('action must be add or delete');
      const schema = body.id_schema;
      if (
        !Array.isArray(schema) ||
        schema.length === 0 ||
        schema.some((s) => !ID_SCHEMAS.includes(String(s))) ||
        new Set(schema).size !== schema.length
      ) {
        return shape('id_schema must list distinct known identifier types');
      }
      const data = body.batch_data;
      if (!Array.isArray(data) || data.length === 0) return shape('batch_data must be a non-empty array');
      const changes: Array<{ aud: FakeTiktokAudience; member: string }> = [];
      /** countOnly: people per audience in this request. */
      const people = new Map<FakeTiktokAudience, number>();
      for (const person of data) {
        if (!Array.isArray(person) || person.length !== schema.length)
          return shape('every batch_data entry must align with id_schema');
        let any = false;
        const audiencesOfPerson = new Set<FakeTiktokAudience>();
        for (const [i, cell] of person.entries()) {
          const c = cell as { id?: unknown; audience_ids?: unknown };
          if (Object.keys(c).length === 0) continue;
          if (typeof c.id !== 'string' || !SHA256_RE.test(c.id))
            return shape(`${String(schema[i])} id must be a lowercase SHA-256`);
          if (!Array.isArray(c.audience_ids) || c.audience_ids.length === 0)
            return shape('audience_ids must be a non-empty array');
          for (const audId of c.audience_ids) {
            const aud = audience(audId);
            if (!aud) return fail(40002, `Custom audience ${String(audId)} does not exist.`);
            if (countOnly) audiencesOfPerson.add(aud);
            else changes.push({ aud, member: `${String(schema[i])}:${c.id}` });
          }
          any = true;
        }
        if (!any) return shape('a person must carry at least one identifier');
        for (const aud of audiencesOfPerson) people.set(aud, (people.get(aud) ?? 0) + 1);
      }
      if (countOnly) {
        for (const [aud, n] of people)
          aud.counted = Math.max(0, (aud.counted ?? 0) + (body.action === 'add' ? n : -n));
        state.uploads?.push({ op: body.action === 'add' ? 'add' : 'remove', rows: data.length });
      }
      for (const { aud, member } of changes) {
        if (body.action === 'add') aud.members.add(member);
        else aud.members.delete(member);
      }
      if (!countOnly)
        state.batches.push({
          action: body.action,
          audiences: [...new Set(changes.map((c) => c.aud.id))].sort(),
          rows: data.map((p) => JSON.stringify(p)),
        });
      return ok({});
    }
    if (path === '/dmp/custom_audience/list/' && request.method === 'GET') {
      if (request.query.advertiser_id !== state.advertiserId) return shape('advertiser_id query is required');
      const page = Number(request.query.page ?? 1);
      const size = Number(request.query.page_size ?? 10);
      const all = [...state.audiences.values()].filter((a) => !a.deleted);
      const list = all
        .slice((page - 1) * size, page * size)
        .map((a) => ({ audience_id: a.id, name: a.name }));
      return ok({
        list,
        page_info: {
          page,
          page_size: size,
          total_number: all.length,
          total_page: Math.max(1, Math.ceil(all.length / size)),
        },
      });
    }
    if (path === '/dmp/custom_audience/get/' && request.method === 'GET') {
      let ids: unknown;
      try {
        ids = JSON.parse(request.query.custom_audience_ids ?? '');
      } catch {
        return shape('custom_audience_ids must be a JSON array');
      }
      if (!Array.isArray(ids)) return shape('custom_audience_ids must be a JSON array');
      const found = ids.map((id) => audience(id));
      if (found.some((a) => !a)) return fail(40002, 'Custom audience does not exist.');
      return ok({
        list: found.map((a) => ({
          audience_details: {
            audience_id: a!.id,
            name: a!.name,
            cover_num: sizeOf(a!) >= 1000 ? sizeOf(a!) : 0,
            is_valid: true,
          },
        })),
      });
    }
    if (path === '/dmp/custom_audience/delete/' && request.method === 'POST') {
      for (const id of (body.custom_audience_ids as unknown[]) ?? []) {
        const a = audience(id);
        if (a) a.deleted = true;
      }
      return ok({});
    }
    if (path === '/dmp/custom_audience/file/upload/' && request.method === 'POST') {
      const form = body as unknown as Multipart;
      if (!form.fields || !form.files) return shape('file upload must be multipart/form-data');
      if (form.fields.advertiser_id !== state.advertiserId) return shape('advertiser_id does not match');
      if (!ID_SCHEMAS.includes(form.fields.calculate_type ?? ''))
        return shape('calculate_type must be a SHA256 identifier type');
      const file = form.files.file;
      if (!file) return shape('file is required');
      if (hash('md5', file.content) !== form.fields.file_signature)
        return fail(40002, 'file_signature does not match the file MD5.');
      const lines = file.content.toString('utf8').split('\n').filter(Boolean);
      if (lines.some((l) => !SHA256_RE.test(l))) return shape('every line must be a SHA-256 hash');
      const filePath = `tt-file-${++fileCounter}`;
      state.files.set(filePath, { calculateType: form.fields.calculate_type!, lines });
      return ok({ file_path: filePath });
    }
    if (path === '/dmp/custom_audience/update/' && request.method === 'POST') {
      const aud = audience(body.custom_audience_id);
      if (!aud) return fail(40002, 'Custom audience does not exist.');
      if (body.action === undefined)
        state.shapeErrors.push('update without an explicit action (TikTok would default to REPLACE)');
      const action = String(body.action ?? 'REPLACE');
      if (!['APPEND', 'REMOVE', 'REPLACE'].includes(action))
        return shape('action must be APPEND, REMOVE or REPLACE');
      const paths = body.file_paths;
      if (!Array.isArray(paths) || paths.length === 0) return shape('file_paths must be a non-empty array');
      const files = paths.map((p) => state.files.get(String(p)));
      if (files.some((f) => !f)) return fail(40002, 'file_path is invalid or expired.');
      const members = new Set<string>(action === 'REPLACE' ? [] : aud.members);
      for (const f of files) {
        for (const line of f!.lines) {
          const member = `${f!.calculateType}:${line}`;
          if (action === 'REMOVE') members.delete(member);
          else members.add(member);
        }
      }
      const people = Math.max(
        0,
        ...[...new Set(files.map((f) => f!.calculateType))].map(
          (t) => [...members].filter((m) => m.startsWith(`${t}:`)).length,
        ),
      );
      if (people < 1000) return fail(40002, 'The audience size cannot be less than 1000 after the update.');
      aud.members = members;
      state.updates.push({ audienceId: aud.id, action, file_paths: paths.map(String) });
      return ok({ custom_audience_id: aud.id });
    }
    return shape(`unsupported ${request.method} ${request.path}`);
  };

  const http = await startFakeHttp(countOnly ? withoutBodies(handler) : handler);
  return {
    url: http.url,
    state,
    requests: http.requests,
    controls: {
      throttle(times) {
        throttleLeft = times;
      },
      failNext(code, message) {
        failure = { code, message };
      },
      expireToken() {
        tokenExpired = true;
      },
      deleteAudience(id) {
        const a = state.audiences.get(id);
        if (a) a.deleted = true;
      },
      setLatency: http.setLatency,
    },
    close: http.close,
  };
}
