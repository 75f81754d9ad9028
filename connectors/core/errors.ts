/**
 * Typed connector errors. The retry behaviour is part of the type, so the worker maps them to
 * BullMQ without knowing any platform: `retryable` / `rate_limited` carry a delay and may be
 * retried; everything else is fatal for the call (the worker throws UnrecoverableError).
 * Messages are built from platform codes and our own words and pass through `scrubMessage`, so
 * they never carry raw PII or tokens.
 */
import { scrubMessage } from '../../src/contract/scrub.js';

export type ConnectorErrorKind =
  | 'retryable'
  | 'rate_limited'
  | 'auth'
  | 'invalid_payload'
  | 'audience_gone'
  | 'audience_closed'
  | 'platform'
  | 'config';

export interface ConnectorErrorDetails {
  /** The connector id (`meta`, ...). */
  connector: string;
  /** The platform's error code (Meta `17`, Google `CONCURRENT_MODIFICATION`, TikTok `40100`...). */
  code?: string | number;
  subcode?: string | number;
  /** HTTP status, when there was a response. */
  status?: number;
  /** The platform's request / trace id, for support tickets. */
  requestId?: string;
}

export abstract class ConnectorError extends Error {
  abstract readonly kind: ConnectorErrorKind;
  /** Whether the same call may succeed later. */
  abstract readonly retry: boolean;
  readonly connector: string;
  readonly code?: string | number;
  readonly subcode?: string | number;
  readonly status?: number;
  readonly requestId?: string;

  constructor(message: string, details: ConnectorErrorDetails) {
    super(scrubMessage(message));
    this.connector = details.connector;
    if (details.code !== undefined) this.code = details.code;
    if (details.subcode !== undefined) this.subcode = details.subcode;
    if (details.status !== undefined) this.status = details.status;
    if (details.requestId !== undefined) this.requestId = details.requestId;
  }

  /** Safe to store in job data and run records. */
  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      kind: this.kind,
      retry: this.retry,
      message: this.message,
      connector: this.connector,
      code: this.code,
      subcode: this.subcode,
      status: this.status,
      requestId: this.requestId,
      delayMs: this instanceof RetryLaterError ? this.delayMs : undefined,
    };
  }
}

/** Errors after which the same call may succeed once `delayMs` has passed. */
export abstract class RetryLaterError extends ConnectorError {
  readonly retry = true;
  constructor(
    message: string,
    details: ConnectorErrorDetails,
    readonly delayMs: number,
  ) {
    super(message, details);
  }
}

/** A passing failure (network, timeout, 5xx, Google CONCURRENT_MODIFICATION): try again after `delayMs`. */
export class RetryableError extends RetryLaterError {
  override readonly name = 'RetryableError';
  readonly kind = 'retryable' as const;
}

/** The platform throttled us (Meta 17 / 613 / 4 / 80003-4, HTTP 429, TikTok 40100): wait `delayMs`. */
export class RateLimitedError extends RetryLaterError {
  override readonly name = 'RateLimitedError';
  readonly kind = 'rate_limited' as const;
}

/** Credentials are missing, expired or revoked: a person has to act. */
export class AuthError extends ConnectorError {
  override readonly name = 'AuthError';
  readonly kind = 'auth' as const;
  readonly retry = false;
}

/** The platform refused the request itself (shape, limits, a restricted audience). Resending fails again. */
export class InvalidPayloadError extends ConnectorError {
  override readonly name = 'InvalidPayloadError';
  readonly kind = 'invalid_payload' as const;
  readonly retry = false;
}

/** Fatal errors about the state of one platform audience, which they name. */
export abstract class PlatformAudienceError extends ConnectorError {
  readonly retry = false;
  constructor(
    message: string,
    details: ConnectorErrorDetails,
    readonly platformAudienceId: string,
  ) {
    super(message, details);
  }
}

/** The platform audience was deleted: ensure the audience again and resend everything. */
export class AudienceGoneError extends PlatformAudienceError {
  override readonly name = 'AudienceGoneError';
  readonly kind = 'audience_gone' as const;
}

/**
 * The platform audience exists but takes no new members (a Google Ads user list whose membership
 * status is CLOSED): uploads would be accepted and quietly go nowhere, so the sync stops and says
 * how to reopen it. Fatal until a person reopens the audience.
 */
export class AudienceClosedError extends PlatformAudienceError {
  override readonly name = 'AudienceClosedError';
  readonly kind = 'audience_closed' as const;
}

/** Anything else the platform said that we cannot classify. Fatal until a person looks. */
export class PlatformError extends ConnectorError {
  override readonly name = 'PlatformError';
  readonly kind = 'platform' as const;
  readonly retry = false;
}

/** The destination block is invalid (names the destination and the YAML path). */
export class ConnectorConfigError extends ConnectorError {
  override readonly name = 'ConnectorConfigError';
  readonly kind = 'config' as const;
  readonly retry = false;
}

export function isConnectorError(error: unknown): error is ConnectorError {
  return error instanceof ConnectorError;
}

/** The delay to wait before retrying, or `undefined` when the error is not retryable. */
export function retryDelayMs(error: unknown): number | undefined {
  if (error instanceof RetryLaterError) return error.delayMs;
  return undefined;
}
