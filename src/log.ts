import { type Logger, type LoggerOptions, pino } from 'pino';

/**
 * Structured logs. Personal data must never reach them: the redaction below is a safety net for
 * fields that carry it by name; code should not log records in the first place.
 */
export const REDACT_PATHS = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'name',
  'token',
  'access_token',
  'api_key',
  'apiKey',
  'password',
  'secret',
  'authorization',
  '*.email',
  '*.phone',
  '*.first_name',
  '*.last_name',
  '*.access_token',
  '*.api_key',
  '*.developer_token',
  '*.password',
  '*.secret',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-cio-signature"]',
  'headers.authorization',
  'headers["access-token"]',
];

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino({
    level: process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { service: 'audience-sync' },
    ...options,
  });
}

/** The process-wide logger; stages take a child of it with their run ids bound. */
export const log: Logger = createLogger();
export type { Logger };
