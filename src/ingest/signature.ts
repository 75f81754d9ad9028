import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Customer.io reporting-webhook signatures (docs/http-api.md, "Customer.io webhook signature"): lowercase hex HMAC-SHA256, keyed
 * with the signing key, of `v0:<X-CIO-Timestamp>:<raw body>`. Verified on the raw bytes, compared in
 * constant time, against every configured key so keys can be rotated without downtime.
 */

export type SignatureFailure =
  | 'no_signing_keys'
  | 'missing_timestamp'
  | 'missing_signature'
  | 'bad_timestamp'
  | 'stale_timestamp'
  | 'future_timestamp'
  | 'bad_signature';

export const SIGNATURE_FAILURE_MESSAGES: Readonly<Record<SignatureFailure, string>> = {
  no_signing_keys: 'webhook signing keys are not configured (CIO_WEBHOOK_SIGNING_KEYS)',
  missing_timestamp: 'X-CIO-Timestamp header is missing',
  missing_signature: 'X-CIO-Signature header is missing',
  bad_timestamp: 'X-CIO-Timestamp is not a unix time in seconds',
  stale_timestamp: 'X-CIO-Timestamp is older than the replay window',
  future_timestamp: 'X-CIO-Timestamp is further in the future than the replay window',
  bad_signature: 'X-CIO-Signature does not match the body',
};

const HEX_SHA256 = /^[0-9a-fA-F]{64}$/;

export interface SignatureHeaders {
  timestamp: string | undefined;
  signature: string | undefined;
}

/**
 * The checks that need no body: run in `onRequest`, so a request with missing headers or an old
 * timestamp is refused before its body is even read.
 */
export function checkSignatureHeaders(
  headers: SignatureHeaders,
  options: { keys: readonly string[]; toleranceSeconds: number; nowSeconds?: number },
): SignatureFailure | null {
  if (options.keys.length === 0) return 'no_signing_keys';
  if (!headers.timestamp) return 'missing_timestamp';
  if (!headers.signature) return 'missing_signature';
  if (!/^\d{1,12}$/.test(headers.timestamp)) return 'bad_timestamp';
  const now = options.nowSeconds ?? Math.floor(Date.now() / 1000);
  const age = now - Number(headers.timestamp);
  if (age > options.toleranceSeconds) return 'stale_timestamp';
  if (-age > options.toleranceSeconds) return 'future_timestamp';
  if (!HEX_SHA256.test(headers.signature)) return 'bad_signature';
  return null;
}

/** The HMAC over the raw body, against every key; `true` when any key produced the signature. */
export function signatureMatches(
  keys: readonly string[],
  timestamp: string,
  signature: string,
  body: Uint8Array,
): boolean {
  if (!HEX_SHA256.test(signature)) return false;
  const given = Buffer.from(signature, 'hex');
  let matched = false;
  // Every key is tried even after a match, so timing does not tell which key (or whether) matched.
  for (const key of keys) {
    const expected = computeSignature(key, timestamp, body);
    if (timingSafeEqual(expected, given)) matched = true;
  }
  return matched;
}

function computeSignature(key: string, timestamp: string, body: Uint8Array): Buffer {
  return createHmac('sha256', key).update(`v0:${timestamp}:`).update(body).digest();
}

/** Signs a body the way Customer.io does: for tests, benchmarks and local replays. */
export function signCioWebhook(key: string, timestamp: string | number, body: string | Uint8Array): string {
  const bytes = typeof body === 'string' ? Buffer.from(body) : body;
  return computeSignature(key, String(timestamp), bytes).toString('hex');
}
