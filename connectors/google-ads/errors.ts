import {
  AudienceGoneError,
  AuthError,
  type ConnectorError,
  InvalidPayloadError,
  PlatformError,
  RateLimitedError,
  RetryableError,
} from '../core/errors.js';
import { asObject, type HttpResponse, retryAfterMs } from '../core/http.js';

/**
 * Google Ads REST errors → typed errors. Errors look like `{error: {code, message, status,
 * details: [{'@type': '...GoogleAdsFailure', errors: [{errorCode: {databaseError:
 * 'CONCURRENT_MODIFICATION'}, message, location}], requestId}]}}`.
 */

export interface GoogleAdsErrorEntry {
  errorCode?: Record<string, string>;
  message?: string;
  location?: { fieldPathElements?: Array<{ fieldName?: string; index?: number }> };
}

/** Every GoogleAdsFailure error inside a google.rpc.Status (`error` or `partialFailureError`). */
export function failureEntries(status: unknown): { entries: GoogleAdsErrorEntry[]; requestId?: string } {
  const details = asObject(status)?.details;
  const entries: GoogleAdsErrorEntry[] = [];
  let requestId: string | undefined;
  if (Array.isArray(details)) {
    for (const detail of details) {
      const d = asObject(detail);
      if (!d) continue;
      if (typeof d.requestId === 'string') requestId = d.requestId;
      if (Array.isArray(d.errors)) entries.push(...(d.errors as GoogleAdsErrorEntry[]));
    }
  }
  return { entries, ...(requestId ? { requestId } : {}) };
}

/** `databaseError: CONCURRENT_MODIFICATION` → `CONCURRENT_MODIFICATION`. */
export function errorCodeName(entry: GoogleAdsErrorEntry): string {
  const code = entry.errorCode;
  if (!code) return 'UNKNOWN';
  const first = Object.values(code)[0];
  return typeof first === 'string' ? first : 'UNKNOWN';
}

const AUDIENCE_GONE = new Set(['RESOURCE_NOT_FOUND', 'INVALID_USER_LIST_ID', 'USER_LIST_NOT_FOUND']);
const THROTTLED = new Set(['RESOURCE_EXHAUSTED', 'RESOURCE_TEMPORARILY_EXHAUSTED']);
const CONCURRENT_MODIFICATION_DELAY_MS = 60_000;

export function classifyGoogleError(
  response: HttpResponse,
  what: string,
  audienceId?: string,
): ConnectorError {
  const error = asObject(asObject(response.json)?.error);
  const { entries, requestId } = failureEntries(error);
  const codes = entries.map(errorCodeName);
  const categories = entries.flatMap((e) => Object.keys(e.errorCode ?? {}));
  const first = codes[0] ?? (typeof error?.status === 'string' ? error.status : `HTTP ${response.status}`);
  const details = {
    connector: 'google_ads',
    status: response.status,
    code: first,
    ...(requestId ? { requestId } : {}),
  };
  const says = entries[0]?.message ?? (typeof error?.message === 'string' ? error.message : '');
  const suffix = says ? `: ${says}` : '';

  if (codes.includes('CONCURRENT_MODIFICATION')) {
    return new RetryableError(
      `Google Ads refused ${what}: another job is changing this list (CONCURRENT_MODIFICATION); retry later`,
      details,
      CONCURRENT_MODIFICATION_DELAY_MS,
    );
  }
  if (
    response.status === 429 ||
    codes.some((c) => THROTTLED.has(c)) ||
    error?.status === 'RESOURCE_EXHAUSTED'
  ) {
    return new RateLimitedError(
      `Google Ads throttled ${what} (${first})${suffix}`,
      details,
      quotaDelayMs(error, response),
    );
  }
  if (response.status === 401 || categories.includes('authenticationError')) {
    return new AuthError(
      `Google Ads rejected the credentials during ${what} (${first}): check developer_token and re-authorize the refresh token`,
      details,
    );
  }
  if (response.status === 403 || categories.includes('authorizationError')) {
    return new AuthError(`Google Ads denied ${what} (${first})${suffix}`, details);
  }
  if (audienceId && (response.status === 404 || codes.some((c) => AUDIENCE_GONE.has(c)))) {
    return new AudienceGoneError(
      `Google Ads user list ${audienceId} no longer exists (${first}) during ${what}`,
      details,
      audienceId,
    );
  }
  if (codes.includes('CUSTOMER_NOT_ACCEPTED_CUSTOMER_DATA_TERMS')) {
    return new InvalidPayloadError(
      `Google Ads refused ${what}: the account has not accepted the Customer Match terms, or consent was DENIED (${first})`,
      details,
    );
  }
  if (response.status >= 500 || categories.includes('internalError') || error?.status === 'UNAVAILABLE') {
    return new RetryableError(
      `Google Ads had a passing failure during ${what} (${first})${suffix}`,
      details,
      30_000,
    );
  }
  if (response.status === 400)
    return new InvalidPayloadError(`Google Ads rejected ${what} (${first})${suffix}`, details);
  return new PlatformError(`Google Ads failed ${what} (${first}, HTTP ${response.status})${suffix}`, details);
}

/** QuotaErrorDetails carries `retryDelay: "30s"`; otherwise Retry-After, otherwise a minute. */
function quotaDelayMs(error: Record<string, unknown> | undefined, response: HttpResponse): number {
  const { entries } = failureEntries(error);
  for (const entry of entries) {
    const delay = asObject(
      asObject((entry as Record<string, unknown>).details)?.quotaErrorDetails,
    )?.retryDelay;
    if (typeof delay === 'string') {
      const seconds = Number.parseFloat(delay);
      if (Number.isFinite(seconds)) return Math.round(seconds * 1000);
    }
  }
  return retryAfterMs(response.headers, 60_000);
}
