import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Console sessions: a signed, stateless token in a cookie. The token is
 * `v1.<session id>.<expiry ms>.<HMAC-SHA256 of "v1.<session id>.<expiry ms>">`, keyed with
 * `CONSOLE_SESSION_SECRET` (or a random key made once per process when that is unset: sessions
 * then end when the process restarts). The admin key a person signed in with is never in it.
 *
 * The CSRF token of a session is an HMAC of its id under the same key (a different label), so a
 * form or `x-csrf-token` header proves the request came from a page this server rendered for that
 * session; nothing is stored on the server.
 */

export const SESSION_COOKIE = 'as_console';
/** Eight hours: a working day; after it the console asks for the key again. */
export const SESSION_TTL_MS = 8 * 3_600_000;

let processKey: Buffer | undefined;

/** The signing key: the configured secret, else one random key for the life of this process. */
export function sessionKey(secret: string | undefined): Buffer {
  if (secret !== undefined) return Buffer.from(secret, 'utf8');
  processKey ??= randomBytes(32);
  return processKey;
}

export interface Session {
  id: string;
  expiresAt: number;
}

const mac = (key: Buffer, label: string, text: string) =>
  createHmac('sha256', key).update(`${label}\n${text}`).digest('base64url');

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export function createSession(key: Buffer, now = Date.now()): { session: Session; token: string } {
  const session = { id: randomBytes(18).toString('base64url'), expiresAt: now + SESSION_TTL_MS };
  const body = `v1.${session.id}.${session.expiresAt}`;
  return { session, token: `${body}.${mac(key, 'session', body)}` };
}

/** The session a token carries, or undefined when it is malformed, forged or expired. */
export function verifySession(key: Buffer, token: string | undefined, now = Date.now()): Session | undefined {
  if (!token || token.length > 200) return undefined;
  const m = /^v1\.([A-Za-z0-9_-]{16,64})\.(\d{1,16})\.([A-Za-z0-9_-]{43})$/.exec(token);
  if (!m) return undefined;
  const [, id, exp, signature] = m as unknown as [string, string, string, string];
  if (!equal(signature, mac(key, 'session', `v1.${id}.${exp}`))) return undefined;
  const expiresAt = Number(exp);
  if (!(expiresAt > now)) return undefined;
  return { id, expiresAt };
}

export function csrfToken(key: Buffer, session: Session): string {
  return mac(key, 'csrf', session.id);
}

export function verifyCsrf(key: Buffer, session: Session, candidate: unknown): boolean {
  return typeof candidate === 'string' && equal(candidate, csrfToken(key, session));
}

/** One cookie's value from a `Cookie` header, or undefined. */
export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

export function sessionCookie(token: string, options: { secure: boolean; maxAgeSeconds: number }): string {
  return [
    `${SESSION_COOKIE}=${token}`,
    'Path=/console',
    `Max-Age=${options.maxAgeSeconds}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}

export function clearedSessionCookie(secure: boolean): string {
  return sessionCookie('', { secure, maxAgeSeconds: 0 });
}
