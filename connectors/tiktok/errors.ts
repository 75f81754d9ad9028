import {
  AudienceGoneError,
  AuthError,
  type ConnectorError,
  InvalidPayloadError,
  PlatformError,
  RateLimitedError,
  RetryableError,
} from '../core/errors.js';
import type { HttpResponse } from '../core/http.js';
import { retryAfterMs } from '../core/http.js';

/**
 * TikTok answers HTTP 200 with `{code, message, request_id, data}`: success is `code === 0`,
 * whatever the status. Its throttling and auth codes are not documented with certainty
 * (unconfirmed), so codes seen in the wild are used together with the message wording, and the
 * code is always kept on the error for diagnosis.
 */

/** 40100: "too many requests" as observed; other codes are recognized by their message. */
const THROTTLE_CODES = new Set([40100, 40016, 51012]);
/** 40102 / 40104 / 40105 / 40106: missing, expired, invalid or revoked access token (as observed). */
const AUTH_CODES = new Set([40001, 40102, 40104, 40105, 40106]);
const THROTTLE_RE = /\brate\b|limit|busy|too (?:many|frequent)|qps|frequency/i;
const AUTH_RE = /access.?token|unauthori[sz]ed|no permission|permission denied|not authori[sz]ed/i;
const GONE_RE = /audience.*(?:not exist|does not exist|not found|deleted|invalid audience)/i;

export interface TiktokEnvelope {
  code?: number;
  message?: string;
  request_id?: string;
  data?: unknown;
}

export function classifyTiktok(
  response: HttpResponse,
  envelope: TiktokEnvelope | undefined,
  what: string,
  throttleDelayMs: number,
  audienceId?: string,
): ConnectorError {
  const code = envelope?.code;
  const message = envelope?.message ?? `HTTP ${response.status}`;
  const details = {
    connector: 'tiktok',
    status: response.status,
    ...(code !== undefined ? { code } : {}),
    ...(envelope?.request_id ? { requestId: envelope.request_id } : {}),
  };
  const tag = `code ${code ?? '?'}`;
  if (
    response.status === 429 ||
    (code !== undefined && THROTTLE_CODES.has(code)) ||
    THROTTLE_RE.test(message)
  ) {
    return new RateLimitedError(
      `TikTok throttled ${what} (${tag}): ${message}`,
      details,
      retryAfterMs(response.headers, throttleDelayMs),
    );
  }
  if (
    response.status === 401 ||
    response.status === 403 ||
    (code !== undefined && AUTH_CODES.has(code) && AUTH_RE.test(message)) ||
    AUTH_RE.test(message)
  ) {
    return new AuthError(
      `TikTok refused the access token during ${what} (${tag}): ${message}; generate a new long-term token and update access_token`,
      details,
    );
  }
  if (audienceId && GONE_RE.test(message)) {
    return new AudienceGoneError(
      `TikTok audience ${audienceId} no longer exists (${tag}) during ${what}`,
      details,
      audienceId,
    );
  }
  if (response.status >= 500 || (code !== undefined && code >= 50000)) {
    return new RetryableError(
      `TikTok had a passing failure during ${what} (${tag}): ${message}`,
      details,
      30_000,
    );
  }
  if (code !== undefined && code >= 40000 && code < 50000) {
    return new InvalidPayloadError(`TikTok rejected ${what} (${tag}): ${message}`, details);
  }
  return new PlatformError(`TikTok failed ${what} (${tag}, HTTP ${response.status}): ${message}`, details);
}
