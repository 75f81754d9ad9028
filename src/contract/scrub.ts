/**
 * Masking personal data and credentials out of free text: connector errors (platform messages)
 * and every log line pass through `scrubMessage`.
 */
const EMAIL_RE = /[^\s@"'<>(),;:]+@[^\s@"'<>(),;:]+\.[A-Za-z]{2,}/g;
/**
 * Phone numbers as people write them: with `+`, or grouped with separators. Plain digit runs are
 * kept on purpose: they are platform ids (audiences, customers, requests) that make errors useful.
 */
const PHONE_RE = /\+\d[\d\s().-]{5,}\d|\(?\b\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}\b/g;
const BEARER_RE = /\b(Bearer|OAuth|Basic)\s+[A-Za-z0-9._~+/=-]{8,}/gi;
const TOKEN_PARAM_RE = /\b(access_token|refresh_token|client_secret|api_key|token)=([^&\s"']+)/gi;
/** Long opaque strings that look like credentials (Meta `EAA...`, Google `ya29.`...). */
const OPAQUE_TOKEN_RE = /\b(?:EAA[A-Za-z0-9]{20,}|ya29\.[A-Za-z0-9._-]{10,}|1\/\/[A-Za-z0-9._-]{10,})\b/g;
const HEX64_RE = /\b[0-9a-fA-F]{64}\b/g;

/**
 * A safety net for messages that may contain text from a platform: masks anything that looks like
 * an email, a phone number or a credential, and keeps one line of bounded length. SHA-256 hashes
 * are kept (they are what we send).
 */
export function scrubMessage(message: string): string {
  const hashes: string[] = [];
  let s = message.replace(HEX64_RE, (h) => {
    hashes.push(h);
    return `\u0000${hashes.length - 1}\u0000`;
  });
  s = s
    .replace(BEARER_RE, '$1 [redacted]')
    .replace(TOKEN_PARAM_RE, '$1=[redacted]')
    .replace(OPAQUE_TOKEN_RE, '[redacted-token]')
    .replace(EMAIL_RE, '[redacted-email]')
    .replace(PHONE_RE, '[redacted-phone]');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: placeholders we inserted above.
  s = s.replace(/\u0000(\d+)\u0000/g, (_, i: string) => hashes[Number(i)] ?? '');
  s = s.replace(/\s+/g, ' ').trim();
  return s.length > 500 ? `${s.slice(0, 497)}...` : s;
}
