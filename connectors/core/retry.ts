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

export function defaultSleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
