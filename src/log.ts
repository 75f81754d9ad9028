import { type DestinationStream, type Logger, type LoggerOptions, pino } from 'pino';
import { scrubMessage } from './contract/scrub.js';
import { onRootLogSettings } from './log-settings.js';

/**
 * Structured logs. Personal data and secrets must never reach them. Code should not log records in
 * the first place; three safety nets catch what slips through, including on error paths:
 *  1. `redact` censors well-known paths (cheap, exact, applied at serialization);
 *  2. `formatters.log` / `formatters.bindings` walk every logged object: values under a sensitive
 *     key (at any depth) are censored, and every string is scrubbed of email / phone / token
 *     patterns (`scrubMessage`, shared with connector errors);
 *  3. `hooks.logMethod` scrubs the message string itself, and an `Error` logged without a message
 *     gets its scrubbed message (pino would otherwise print the raw one).
 */
const REDACT_PATHS = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'name',
  'token',
  'access_token',
  'refresh_token',
  'api_key',
  'apiKey',
  'password',
  'secret',
  'client_secret',
  'developer_token',
  'signing_key',
  'signing_keys',
  'authorization',
  '*.email',
  '*.phone',
  '*.first_name',
  '*.last_name',
  '*.access_token',
  '*.refresh_token',
  '*.api_key',
  '*.developer_token',
  '*.password',
  '*.secret',
  '*.client_secret',
  '*.signing_key',
  '*.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-cio-signature"]',
  'headers.authorization',
  'headers.cookie',
  'headers["access-token"]',
  'headers["x-cio-signature"]',
];

const CENSOR = '[redacted]';

/**
 * Keys (lowercased, `-` as `_`) whose values are personal data or credentials wherever they appear.
 * `name` is not here at depth: event, audience and queue names are what logs are for; a person's
 * name travels as `first_name` / `last_name`.
 */
const SENSITIVE_KEYS = new Set([
  'email',
  'emails',
  'phone',
  'phones',
  'phone_number',
  'first_name',
  'last_name',
  'full_name',
  'firstname',
  'lastname',
  'postal_code',
  'zip',
  'street',
  'address',
  'city',
  'region',
  'maid',
  'ip',
  'authorization',
  'proxy_authorization',
  'cookie',
  'set_cookie',
  'api_key',
  'api_keys',
  'apikey',
  'admin_api_keys',
  'signing_key',
  'signing_keys',
  'cio_webhook_signing_keys',
  'x_cio_signature',
  'private_key',
  'secret_access_key',
  'aws_secret_access_key',
  'credentials',
]);
/** `access_token`, `developer_token`, `client_secret`, `x-api-key`, `password`, `signature`... */
const SENSITIVE_SUFFIX = /(?:^|_)(?:token|tokens|secret|secrets|password|passwd|signature|api_key)$/;

function isSensitiveKey(key: string): boolean {
  const k = key.toLowerCase().replaceAll('-', '_');
  return SENSITIVE_KEYS.has(k) || SENSITIVE_SUFFIX.test(k);
}

/** Scrubs a multi-line string line by line, so stack traces keep their shape. */
export function scrubText(text: string): string {
  if (!needsScrub(text)) return text;
  return text
    .split('\n')
    .map((line) => (needsScrub(line) ? scrubMessage(line) : line))
    .join('\n');
}

/** Cheap pre-test: only strings with an `@`, a `+digit`, a digit group or a credential marker can match. */
const SUSPECT_RE = /@|\+\d|\d[\s().-]\d|bearer|basic|oauth|token|secret|api_key|EAA|ya29|1\/\//i;
function needsScrub(s: string): boolean {
  return SUSPECT_RE.test(s);
}

const MAX_DEPTH = 8;

/** A scrubbed copy of a value for logging: sensitive keys censored, strings scrubbed, errors serialized. */
function scrubValue(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[nested]';
  if (value instanceof Error) return scrubValue(pino.stdSerializers.err(value), depth + 1);
  if (value instanceof Date) return value;
  if (Buffer.isBuffer(value) || ArrayBuffer.isView(value)) return `[binary ${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((v) => scrubValue(v, depth + 1));
  if (value instanceof Map) return scrubValue(Object.fromEntries(value), depth);
  if (value instanceof Set) return scrubValue([...value], depth);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = isSensitiveKey(k) && v !== undefined && v !== null ? CENSOR : scrubValue(v, depth + 1);
  }
  return out;
}

function scrubObject(obj: object): Record<string, unknown> {
  return scrubValue(obj) as Record<string, unknown>;
}

// The root logger writes through this indirection so a process can send its logs elsewhere (the CLI
// keeps stdout for `--json` output; tests capture them) without re-creating every logger.
const stdout: DestinationStream = pino.destination({ dest: 1, sync: true });
let current: DestinationStream = stdout;
const switchable: DestinationStream = { write: (chunk: string) => current.write(chunk) };

/**
 * Sends the output of loggers created without their own destination (the root `log` included) to
 * `destination`; returns a function that restores the previous one.
 */
export function redirectLogs(destination: DestinationStream | 'stdout' | 'stderr'): () => void {
  const previous = current;
  current =
    destination === 'stdout'
      ? stdout
      : destination === 'stderr'
        ? pino.destination({ dest: 2, sync: true })
        : destination;
  return () => {
    current = previous;
  };
}

export function createLogger(options: LoggerOptions = {}, destination?: DestinationStream): Logger {
  const { formatters, hooks, ...rest } = options;
  return pino(
    {
      level: process.env.LOG_LEVEL ?? 'info',
      redact: { paths: REDACT_PATHS, censor: CENSOR },
      base: { service: 'audience-sync' },
      serializers: { err: (e: unknown) => scrubValue(e instanceof Error ? pino.stdSerializers.err(e) : e) },
      ...rest,
      formatters: {
        ...formatters,
        log: (obj) => scrubObject(formatters?.log ? formatters.log(obj) : obj),
        bindings: (bindings) => scrubObject(formatters?.bindings ? formatters.bindings(bindings) : bindings),
      },
      hooks: {
        ...hooks,
        logMethod(args, method, level) {
          const scrubbed = scrubArgs(args as unknown[]);
          if (hooks?.logMethod) return hooks.logMethod.call(this, scrubbed as typeof args, method, level);
          return method.apply(this, scrubbed as typeof args);
        },
      },
    },
    destination ?? switchable,
  );
}

function scrubArgs(args: unknown[]): unknown[] {
  const out = args.map((a) => (typeof a === 'string' ? scrubText(a) : a));
  // `log.error(err)` prints err.message as the message: give pino the scrubbed one instead.
  if (out[0] instanceof Error && typeof out[1] !== 'string') out.splice(1, 0, scrubText(out[0].message));
  return out;
}

/** A child logger for one run of a stage: every line carries the run id (and whatever else is bound). */
export function runLogger(parent: Logger, runId: string, bindings: Record<string, unknown> = {}): Logger {
  return parent.child({ run_id: runId, ...bindings });
}

/** The process-wide logger; stages take a child of it with their run ids bound. */
export const log: Logger = createLogger();

// What the process chose before this module loaded (the CLI: level and stderr for one-shot commands).
onRootLogSettings((settings) => {
  if (settings.level && !process.env.LOG_LEVEL) log.level = settings.level;
  if (settings.destination) redirectLogs(settings.destination);
});

export type { Logger };
