/**
 * Redis credentials never reach a log line or an error message. Client errors can carry them
 * (ioredis repeats the URL's password in some AUTH failures, and an operator's REDIS_URL may be
 * pasted into a message), so everything Redis-related that is shown goes through these two helpers.
 */

/** What identifies a Redis server in messages: the parts of ioredis' options that are not secret. */
export interface RedisEndpoint {
  host?: string | undefined;
  port?: number | undefined;
  path?: string | null | undefined;
  db?: number | undefined;
  tls?: unknown;
  password?: string | null | undefined;
  username?: string | null | undefined;
}

const REDACTED = '[redacted]';
/** The user-info part of any redis:// or rediss:// URL inside a text. */
const URL_USERINFO = /\b(rediss?:\/\/)[^@\s/]*@/gi;

/**
 * `text` with the client's password and username (when it has one) and the user-info of every
 * Redis URL in it replaced by `[redacted]`. Short secrets are still replaced: a one-letter password
 * makes a message hard to read, but never leaks.
 */
export function scrubRedisSecrets(
  text: string,
  secrets: Pick<RedisEndpoint, 'password' | 'username'> = {},
): string {
  let out = text.replace(URL_USERINFO, `$1${REDACTED}@`);
  for (const secret of [secrets.password, secrets.username]) {
    if (secret) out = out.split(secret).join(REDACTED);
  }
  return out;
}

/** `rediss://host:port/db` (or the socket path) for messages: never the user or the password. */
export function describeRedisEndpoint(endpoint: RedisEndpoint): string {
  const where = endpoint.path ?? `${endpoint.host ?? '127.0.0.1'}:${endpoint.port ?? 6379}`;
  return `Redis at ${endpoint.tls ? 'rediss://' : ''}${where}${endpoint.db ? `/${endpoint.db}` : ''}`;
}

/** A REDIS_URL fit for a message: its user-info removed, unparseable ones reduced to their scheme. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const auth = parsed.username || parsed.password ? `${REDACTED}@` : '';
    return `${parsed.protocol}//${auth}${parsed.host}${parsed.pathname === '/' ? '' : parsed.pathname}`;
  } catch {
    return scrubRedisSecrets(url);
  }
}
