import { RetryableError } from './errors.js';
import type { ConnectorContext, DraftRequest, JsonValue } from './types.js';

/**
 * The one place connectors touch the network. It turns transport failures (refused connection,
 * timeout, reset) into `RetryableError`; what a *response* means is each connector's call
 * (`classify` functions next to each connector). Never logs bodies, query strings or headers.
 */

export interface HttpRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  /** Serialized as JSON with `content-type: application/json`. */
  json?: unknown;
  form?: FormData;
  /** Form-encoded body (`application/x-www-form-urlencoded`). */
  urlencoded?: URLSearchParams;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it is JSON, otherwise `undefined`. */
  json: unknown;
}

/** Transport failures are worth a retry soon; the platform itself was not reached or did not answer. */
const TRANSPORT_RETRY_MS = 5_000;

export async function sendHttp(
  ctx: Pick<ConnectorContext, 'fetch' | 'log' | 'timeoutMs'>,
  connector: string,
  request: HttpRequest,
): Promise<HttpResponse> {
  const headers: Record<string, string> = { accept: 'application/json', ...request.headers };
  let body: string | FormData | URLSearchParams | undefined;
  if (request.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(request.json);
  } else if (request.form) body = request.form;
  else if (request.urlencoded) body = request.urlencoded;
  const path = safePath(request.url);
  const started = performance.now();
  let response: Response;
  try {
    response = await ctx.fetch(request.url, {
      method: request.method,
      headers,
      ...(body !== undefined ? { body } : {}),
      signal: AbortSignal.timeout(ctx.timeoutMs),
    });
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === 'TimeoutError' || name === 'AbortError') {
      throw new RetryableError(
        `${connector}: ${request.method} ${path} timed out after ${ctx.timeoutMs} ms`,
        { connector },
        TRANSPORT_RETRY_MS,
      );
    }
    const cause = (error as { cause?: { code?: string } }).cause?.code ?? name ?? 'error';
    throw new RetryableError(
      `${connector}: ${request.method} ${path} failed before a response (${cause})`,
      { connector, code: cause },
      TRANSPORT_RETRY_MS,
    );
  }
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    const name = (error as { name?: string }).name ?? 'error';
    throw new RetryableError(
      `${connector}: ${request.method} ${path} response was cut off (${name})`,
      { connector, status: response.status },
      TRANSPORT_RETRY_MS,
    );
  }
  ctx.log.debug(
    {
      connector,
      method: request.method,
      path,
      status: response.status,
      ms: Math.round(performance.now() - started),
    },
    'platform request',
  );
  return { status: response.status, headers: response.headers, text, json: parseJson(text) };
}

function parseJson(text: string): unknown {
  const first = text.trimStart()[0];
  if (first !== '{' && first !== '[') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The URL path without query string (which may hold ids we do not want in logs). */
export function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return url.split('?')[0] ?? url;
  }
}

/** `Retry-After` (seconds or an HTTP date) in ms, or the fallback. */
export function retryAfterMs(headers: Headers, fallbackMs: number): number {
  const value = headers.get('retry-after');
  if (!value) return fallbackMs;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  if (Number.isFinite(date)) return Math.max(0, date - Date.now());
  return fallbackMs;
}

/** Base URL + draft path + query. */
export function draftUrl(base: string, draft: Pick<DraftRequest, 'path' | 'query'>): string {
  const url = new URL(base.replace(/\/+$/, '') + draft.path);
  for (const [k, v] of Object.entries(draft.query ?? {})) url.searchParams.set(k, v);
  return url.toString();
}

/** A plain JSON object, or `undefined`. */
export function asObject(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === 'object' && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** Keeps only JSON-safe scalars and nested objects/arrays of them (for `raw` in descriptions). */
export function jsonSafe(value: unknown, depth = 0): JsonValue {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (depth > 4) return null;
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => jsonSafe(v, depth + 1));
  const obj = asObject(value);
  if (!obj) return null;
  const out: Record<string, JsonValue> = {};
  for (const [k, v] of Object.entries(obj)) out[k] = jsonSafe(v, depth + 1);
  return out;
}
