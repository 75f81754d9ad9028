import { hash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../http-errors.js';

/**
 * Bearer-key authentication, run in `onRequest` so a request without valid credentials is refused
 * before its body is read or validated. Ingest routes use `API_KEYS`; admin routes (added by other
 * parts) use the same hook with `ADMIN_API_KEYS`.
 */

/** Digests have one length, so `timingSafeEqual` can compare keys of any length in constant time. */
function digest(key: string): Buffer {
  return Buffer.from(hash('sha256', key), 'hex');
}

export function bearerKeyMatcher(keys: readonly string[]): (candidate: string) => boolean {
  const digests = keys.map(digest);
  return (candidate) => {
    const d = digest(candidate);
    let ok = false;
    for (const k of digests) if (timingSafeEqual(k, d)) ok = true;
    return ok;
  };
}

/** The bearer token of a request, or `undefined`. */
export function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1];
}

function requireBearer(keys: readonly string[], realm = 'audience-sync') {
  const matches = bearerKeyMatcher(keys);
  const challenge = { 'www-authenticate': `Bearer realm="${realm}"` };
  return async function onRequest(request: FastifyRequest, _reply: FastifyReply): Promise<void> {
    const token = bearerToken(request);
    if (!token) throw new HttpError(401, 'unauthorized', 'missing bearer token', challenge);
    if (keys.length === 0 || !matches(token)) {
      throw new HttpError(401, 'unauthorized', 'invalid bearer token', challenge);
    }
  };
}

/**
 * What every admin route starts with: the admin key (`ADMIN_API_KEYS`) and one rate limit per
 * caller — the key when there is one, else the address.
 */
export function adminAccess(keys: readonly string[], rateLimitPerMinute = 300) {
  return {
    auth: requireBearer(keys, 'audience-sync admin'),
    config: {
      rateLimit: {
        max: rateLimitPerMinute,
        timeWindow: '1 minute',
        keyGenerator: (request: FastifyRequest) => request.headers.authorization ?? request.ip,
      },
    },
  };
}
