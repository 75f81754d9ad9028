import { type FakeResponse, type RecordedRequest, startFakeHttp } from './http.js';

/**
 * A fake Customer.io Track API (loopback): HTTP Basic auth with site id and API key,
 * `GET /api/v1/accounts/region`, and `POST /api/v2/batch` with person identify entries, checked
 * against the documented shape and the 500 KB limit. Person attributes are kept (an empty string
 * or null removes one). It can throttle (429 + Retry-After), reject entries (207 with
 * `errors[].batch_index`), revoke the key, or be slow.
 */

export interface FakeCioState {
  siteId: string;
  apiKey: string;
  people: Map<string, Record<string, unknown>>;
  shapeErrors: string[];
}

export interface FakeCioControls {
  throttle(times: number, retryAfterSeconds?: number): void;
  /** Entries for these customer ids are refused (207 Multi-Status). */
  rejectIds(ids: Iterable<string>): void;
  revokeKey(): void;
  setLatency(ms: number): void;
}

export interface FakeCustomerio {
  url: string;
  state: FakeCioState;
  controls: FakeCioControls;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startFakeCustomerio(): Promise<FakeCustomerio> {
  const state: FakeCioState = {
    siteId: 'site-123',
    apiKey: 'cio-key-abc',
    people: new Map(),
    shapeErrors: [],
  };
  let throttleLeft = 0;
  let retryAfter = 2;
  let rejected = new Set<string>();
  let revoked = false;

  function shape(message: string): FakeResponse {
    state.shapeErrors.push(message);
    return { status: 400, json: { meta: { error: message } } };
  }

  const handler = (request: RecordedRequest): FakeResponse => {
    const expected = `Basic ${Buffer.from(`${state.siteId}:${state.apiKey}`).toString('base64')}`;
    if (revoked || request.headers.authorization !== expected)
      return { status: 401, json: { meta: { error: 'Unauthorized request' } } };
    if (throttleLeft > 0) {
      throttleLeft--;
      return {
        status: 429,
        headers: { 'retry-after': String(retryAfter) },
        json: { meta: { error: 'rate limited' } },
      };
    }
    if (request.method === 'GET' && request.path === '/api/v1/accounts/region') {
      return {
        status: 200,
        json: { url: 'https://track.customer.io', data_center: 'us', environment_id: 1 },
      };
    }
    if (request.method !== 'POST' || request.path !== '/api/v2/batch')
      return shape(`unsupported ${request.method} ${request.path}`);
    if (!request.contentType.includes('application/json')) return shape('the batch must be JSON');
    if (Buffer.byteLength(request.rawBody) >= 500 * 1024)
      return { status: 413, json: { meta: { error: 'request too large' } } };
    const batch = (request.body as { batch?: unknown })?.batch;
    if (!Array.isArray(batch) || batch.length === 0) return shape('batch must be a non-empty array');
    const errors: Array<{ batch_index: number; reason: string; field: string; message: string }> = [];
    for (const [index, raw] of batch.entries()) {
      const entry = raw as Record<string, unknown>;
      if (entry.type !== 'person') return shape(`batch[${index}].type must be person`);
      if (entry.action !== 'identify') return shape(`batch[${index}].action must be identify`);
      const id = (entry.identifiers as { id?: unknown } | undefined)?.id;
      if (
        typeof id !== 'string' ||
        id.length === 0 ||
        Object.keys(entry.identifiers as object).length !== 1
      ) {
        return shape(`batch[${index}].identifiers must be {id}`);
      }
      const attributes = entry.attributes as Record<string, unknown> | undefined;
      if (!attributes || typeof attributes !== 'object' || Array.isArray(attributes))
        return shape(`batch[${index}].attributes must be an object`);
      for (const [k, v] of Object.entries(attributes)) {
        if (v !== null && !['string', 'number', 'boolean'].includes(typeof v))
          return shape(`attribute ${k} must be a scalar`);
      }
      if (rejected.has(id)) {
        errors.push({
          batch_index: index,
          reason: 'invalid',
          field: 'identifiers',
          message: 'person cannot be identified',
        });
        continue;
      }
      const person = state.people.get(id) ?? {};
      for (const [k, v] of Object.entries(attributes)) {
        if (v === '' || v === null) delete person[k];
        else person[k] = v;
      }
      state.people.set(id, person);
    }
    return errors.length ? { status: 207, json: { errors } } : { status: 200, json: {} };
  };

  const http = await startFakeHttp(handler);
  return {
    url: http.url,
    state,
    requests: http.requests,
    controls: {
      throttle(times, seconds = 2) {
        throttleLeft = times;
        retryAfter = seconds;
      },
      rejectIds(ids) {
        rejected = new Set(ids);
      },
      revokeKey() {
        revoked = true;
      },
      setLatency: http.setLatency,
    },
    close: http.close,
  };
}
