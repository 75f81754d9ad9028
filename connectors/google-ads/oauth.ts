import { AuthError, RateLimitedError, RetryableError } from '../core/errors.js';
import { asObject, retryAfterMs, sendHttp } from '../core/http.js';
import type { ConnectorContext } from '../core/types.js';
import type { GoogleConfig } from './config.js';

/**
 * OAuth 2.0 refresh-token flow against Google's token endpoint (overridable with
 * GOOGLE_OAUTH_TOKEN_URL for tests). The access token lives in the context's memory only and is
 * refreshed a minute before it expires, or at once after a 401.
 */

interface CachedToken {
  token: string;
  expiresAt: number;
}

const CACHE_KEY = 'google_ads:access_token';
const EARLY_REFRESH_MS = 60_000;

export function canRefresh(config: GoogleConfig): boolean {
  return Boolean(config.refresh_token && config.client_id && config.client_secret);
}

export async function accessToken(
  ctx: ConnectorContext<GoogleConfig>,
  forceRefresh = false,
): Promise<string> {
  const config = ctx.config;
  if (!canRefresh(config)) {
    if (config.access_token) return config.access_token;
    throw new AuthError('Google Ads needs client_id, client_secret and refresh_token (or access_token)', {
      connector: 'google_ads',
    });
  }
  const cached = ctx.cache.get(CACHE_KEY) as CachedToken | undefined;
  if (!forceRefresh && cached && cached.expiresAt - EARLY_REFRESH_MS > Date.now()) return cached.token;

  const response = await sendHttp(ctx, 'google_ads', {
    method: 'POST',
    url: ctx.urls.oauth!,
    urlencoded: new URLSearchParams({
      grant_type: 'refresh_token',
      client_id: config.client_id!,
      client_secret: config.client_secret!,
      refresh_token: config.refresh_token!,
    }),
  });
  const body = asObject(response.json);
  if (response.status === 200 && typeof body?.access_token === 'string') {
    const expiresIn = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    ctx.cache.set(CACHE_KEY, { token: body.access_token, expiresAt: Date.now() + expiresIn * 1000 });
    return body.access_token;
  }
  const code = typeof body?.error === 'string' ? body.error : `HTTP ${response.status}`;
  const details = { connector: 'google_ads', status: response.status, code };
  if (response.status === 429) {
    throw new RateLimitedError(
      'Google OAuth throttled the token refresh',
      details,
      retryAfterMs(response.headers, 30_000),
    );
  }
  if (response.status >= 500)
    throw new RetryableError(`Google OAuth failed to refresh the token (${code})`, details, 30_000);
  throw new AuthError(
    code === 'invalid_grant'
      ? 'Google refused the refresh token (invalid_grant: expired or revoked): re-authorize and update refresh_token'
      : `Google refused the OAuth client (${code}): check client_id and client_secret`,
    details,
  );
}
