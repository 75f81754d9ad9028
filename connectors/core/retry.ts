import { RetryLaterError } from './errors.js';

/**
 * In-process retries for code that runs a connector without a queue (CLI `sync`, the demo).
 * Under BullMQ the worker maps the same typed errors to job retries instead. Only `retryable`
 * and `rate_limited` errors are retried, after the delay the error carries, doubled on each
 * further attempt and capped; every other error is rethrown at once.
 */
export interface RetryOptions {
  /** Total attempts, the first included (default 5). */
  maxAttempts?: number;
  /** Upper bound of one wait (default 15 minutes: Meta's hourly limits can need that). */
  maxDelayMs?: number;
  sleep?: (ms: number) => Promise<void>;
  /** Called before each wait, e.g. to log or count throttling. */
  onRetry?: (error: RetryLaterError, attempt: number, delayMs: number) => void;
}

export async function withRetries<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const maxAttempts = options.maxAttempts ?? 5;
  const maxDelayMs = options.maxDelayMs ?? 15 * 60_000;
  const sleep = options.sleep ?? defaultSleep;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (!(error instanceof RetryLaterError) || attempt >= maxAttempts) {
        throw error;
      }
      const delayMs = Math.min(maxDelayMs, error.delayMs * 2 ** (attempt - 1));
      options.onRetry?.(error, attempt, delayMs);
      await sleep(delayMs);
    }
  }
}

/**
 * One platform request, retried on its own when the caller asked for it (`ctx.retry`, which the
 * sync sets for `ensureAudience` and `describe`). Each connector sends every request through this,
 * so an operation of several requests (look up, create, look up again) keeps the requests that
 * succeeded and gives each request its own attempts. Retrying the whole operation instead starts
 * again from its first request: a passing failure of the creation then costs an attempt *and* the
 * lookup before it, and a platform that fails every other call (never twice in a row) can fail
 * the creation on every attempt while the lookups succeed (the Meta 5xx fault episode, seed
 * 521081120: 15 attempts, all 6 creations failed). Writes retried this way are safe: the
 * connectors re-list after creating (the smallest id wins, a duplicate is deleted) or look the
 * name up again (Google, NAME_ALREADY_USED).
 */
export function retryingRequest<T>(ctx: { retry?: RetryOptions }, request: () => Promise<T>): Promise<T> {
  return ctx.retry ? withRetries(request, ctx.retry) : request();
}

export function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
