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
 * Graph API errors → typed errors. Graph answers `{error: {message, type, code, error_subcode,
 * error_user_msg, is_transient, fbtrace_id}}`. Codes from Meta's docs (connectors/README.md, typed errors).
 */

/** Throttling: 4 (app), 17 (user / ad account), 32 (page), 613 (calls), 80003 / 80004 (business use case). */
const THROTTLE_CODES = new Set([4, 17, 32, 613, 80003, 80004]);
/** 190: token expired / invalid; 102: session; 10 and 200-299: permission. */
const AUTH_CODES = new Set([102, 190, 10]);
const RESTRICTED_SUBCODE = 1713230;
/** "Object does not exist, cannot be loaded due to missing permissions, or does not support this operation." */
const MISSING_OBJECT_SUBCODE = 33;
/** An hour-window throttle rarely clears in less than this. */
const DEFAULT_THROTTLE_MS = 5 * 60_000;

interface GraphError {
  message?: string;
  type?: string;
  code?: number;
  error_subcode?: number;
  error_user_title?: string;
  error_user_msg?: string;
  is_transient?: boolean;
  fbtrace_id?: string;
}

export function graphError(response: HttpResponse): GraphError | undefined {
  const error = asObject(asObject(response.json)?.error);
  return error as GraphError | undefined;
}

/** What to throw for a failed Graph response. `audienceId` makes a missing object an AudienceGoneError. */
export function classifyMetaError(response: HttpResponse, what: string, audienceId?: string): ConnectorError {
  const error = graphError(response) ?? {};
  const code = error.code;
  const subcode = error.error_subcode;
  const details = {
    connector: 'meta',
    status: response.status,
    ...(code !== undefined ? { code } : {}),
    ...(subcode !== undefined ? { subcode } : {}),
    ...(error.fbtrace_id ? { requestId: error.fbtrace_id } : {}),
  };
  const platformSays = error.error_user_msg || error.message || `HTTP ${response.status}`;
  const tag = `code ${code ?? '?'}${subcode ? `/${subcode}` : ''}`;

  if (code !== undefined && THROTTLE_CODES.has(code)) {
    return new RateLimitedError(
      `Meta throttled ${what} (${tag}): ${platformSays}`,
      details,
      throttleDelayMs(response) ?? DEFAULT_THROTTLE_MS,
    );
  }
  if (response.status === 429) {
    return new RateLimitedError(
      `Meta throttled ${what} (HTTP 429)`,
      details,
      retryAfterMs(response.headers, DEFAULT_THROTTLE_MS),
    );
  }
  if (code === 190) {
    const why =
      subcode === 463
        ? 'has expired'
        : subcode === 460
          ? 'was invalidated by a password change'
          : 'is invalid';
    return new AuthError(
      `Meta access token ${why} (${tag}) during ${what}: generate a new system-user token and update the destination's access_token`,
      details,
    );
  }
  if ((code !== undefined && AUTH_CODES.has(code)) || (code !== undefined && code >= 200 && code <= 299)) {
    return new AuthError(
      `Meta refused permission for ${what} (${tag}): the token needs ads_management on the ad account; ${platformSays}`,
      details,
    );
  }
  if (subcode === RESTRICTED_SUBCODE) {
    return new InvalidPayloadError(
      `Meta blocked ${what}: the audience is flagged for restricted data (operation_status 471, ${tag}); resolve it in Audience Manager or create a new audience`,
      details,
    );
  }
  if (
    audienceId &&
    (response.status === 404 || (code === 100 && subcode === MISSING_OBJECT_SUBCODE) || code === 803)
  ) {
    return new AudienceGoneError(
      `Meta custom audience ${audienceId} no longer exists (${tag}) during ${what}`,
      details,
      audienceId,
    );
  }
  if (response.status >= 500 || error.is_transient || code === 1 || code === 2) {
    return new RetryableError(
      `Meta had a passing failure during ${what} (${tag}): ${platformSays}`,
      details,
      30_000,
    );
  }
  if (code === 100 || response.status === 400) {
    return new InvalidPayloadError(`Meta rejected ${what} (${tag}): ${platformSays}`, details);
  }
  return new PlatformError(`Meta failed ${what} (${tag}, HTTP ${response.status}): ${platformSays}`, details);
}

/**
 * Meta reports how long until access returns in usage headers (`X-Business-Use-Case-Usage`:
 * `estimated_time_to_regain_access` in minutes; `X-Ad-Account-Usage`: `reset_time_duration` in seconds).
 */
export function throttleDelayMs(response: HttpResponse): number | undefined {
  let best: number | undefined;
  const consider = (ms: number) => {
    if (Number.isFinite(ms) && ms > 0) best = Math.max(best ?? 0, ms);
  };
  const buc = response.headers.get('x-business-use-case-usage');
  if (buc) {
    try {
      const parsed = JSON.parse(buc) as Record<string, Array<{ estimated_time_to_regain_access?: number }>>;
      for (const entries of Object.values(parsed)) {
        for (const e of entries ?? []) consider((e.estimated_time_to_regain_access ?? 0) * 60_000);
      }
    } catch {
      // A malformed header is not worth failing over; the default delay applies.
    }
  }
  const account = response.headers.get('x-ad-account-usage');
  if (account) {
    try {
      consider(((JSON.parse(account) as { reset_time_duration?: number }).reset_time_duration ?? 0) * 1000);
    } catch {
      // Same as above.
    }
  }
  const retryAfter = response.headers.get('retry-after');
  if (retryAfter) consider(retryAfterMs(response.headers, 0));
  return best;
}
