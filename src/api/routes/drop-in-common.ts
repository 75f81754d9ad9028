import { pipeline, type Readable, Transform } from 'node:stream';
import { createGunzip } from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Dataset } from '../../contract/records.js';
import type { DropInChecker, DropInMessage } from '../../ingest/drop-in.js';
import { crossedThreshold, type IngestSummary, type ItemStatus, ingestItems } from '../../ingest/ingest.js';
import type { BufferItem } from '../../ingest/items.js';
import { exceedsJsonDepth, MAX_JSON_DEPTH } from '../../ingest/json-limits.js';
import { ERASED_PERSON, linesSuppressed } from '../../privacy/suppression-check.js';
import { HttpError } from '../http-errors.js';
import { bearerKeyMatcher, bearerToken } from '../plugins/auth.js';
import { erasedPeople } from '../suppression.js';

/**
 * What the drop-in APIs (Customer.io Track API, Segment spec) share: HTTP Basic credentials, gzip
 * request bodies, an empty JSON body read as `{}`, and buffering with rejected messages quarantined.
 */

export interface BasicCredentials {
  user: string;
  password: string;
}

export function basicCredentials(request: FastifyRequest): BasicCredentials | undefined {
  const header = request.headers.authorization;
  if (typeof header !== 'string') return undefined;
  const m = /^Basic\s+([A-Za-z0-9+/=_-]+)\s*$/i.exec(header);
  if (!m) return undefined;
  const text = Buffer.from(m[1]!, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon < 0) return { user: text, password: '' };
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

/** `true` when `candidate` is one of `API_KEYS` (constant time, see plugins/auth.ts). */
export function ingestKeyMatcher(keys: readonly string[]): (candidate: string | undefined) => boolean {
  const matches = bearerKeyMatcher(keys);
  return (candidate) => keys.length > 0 && candidate !== undefined && candidate !== '' && matches(candidate);
}

/** Inflated bytes of a gzip body above the route's body limit: refused with 413. */
const GZIP_TOO_LARGE = 'inflated body is larger than the limit for this endpoint';

/**
 * `preParsing` hook: inflates `Content-Encoding: gzip` bodies (Segment's HTTP API accepts them).
 * The body limit applies to the inflated bytes, counted here as they come out of zlib: past the
 * limit, inflation stops at once (413), so a small bomb costs no more than a body at the limit.
 * Bytes that are not gzip are a 400 (`invalid_gzip`).
 */
export async function gunzipBody(
  request: FastifyRequest,
  _reply: unknown,
  payload: Readable,
): Promise<Readable> {
  const encoding = request.headers['content-encoding'];
  if (typeof encoding !== 'string' || encoding.trim().toLowerCase() !== 'gzip') return payload;
  const limit = request.routeOptions.bodyLimit;
  let encoded = 0;
  payload.on('data', (chunk: Buffer) => {
    encoded += chunk.length;
  });
  let inflatedBytes = 0;
  const limited = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      inflatedBytes += chunk.length;
      if (inflatedBytes > limit) return callback(new HttpError(413, 'payload_too_large', GZIP_TOO_LARGE));
      callback(null, chunk);
    },
    destroy(error, callback) {
      // zlib's errors (Z_DATA_ERROR, Z_BUF_ERROR, ...) mean the bytes were not gzip.
      const code = (error as { code?: unknown } | null)?.code;
      callback(
        typeof code === 'string' && code.startsWith('Z_')
          ? new HttpError(400, 'invalid_gzip', 'body is not valid gzip data')
          : error,
      );
    },
  });
  // Fastify listens for errors while it reads; one may come after it stopped (it answered already).
  limited.on('error', () => {});
  // The pipeline destroys every stage on the first error: zlib stops inflating.
  pipeline(payload, createGunzip(), limited, () => {});
  // Fastify compares Content-Length with the bytes received, which are the compressed ones.
  payload.on('end', () => {
    (limited as Transform & { receivedEncodedLength?: number }).receivedEncodedLength = encoded;
  });
  return limited;
}

/**
 * `preValidation` hook: refuses a parsed body nested deeper than `MAX_JSON_DEPTH` (400 `too_deep`)
 * before anything copies or serializes it.
 */
export async function limitJsonDepth(request: FastifyRequest): Promise<void> {
  if (exceedsJsonDepth(request.body)) throw tooDeep();
}

export function tooDeep(): HttpError {
  return new HttpError(400, 'too_deep', `body is nested deeper than ${MAX_JSON_DEPTH} levels`);
}

/**
 * Ingest bodies are JSON: without Fastify's `text/plain` parser, any other content type is a 415
 * instead of a string that fails the shape check.
 */
export function jsonOnly(app: FastifyInstance): void {
  app.removeContentTypeParser('text/plain');
}

/**
 * JSON bodies where an empty body means `{}`: `customerio-node` sends `DELETE` and bodiless `POST`s
 * with `Content-Type: application/json` and no content. Call inside the routes' own scope.
 */
export function acceptEmptyJson(app: FastifyInstance): void {
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (typeof body === 'string' && body.trim() === '') return done(null, {});
    return parseJson(request, body as string, done);
  });
}

export interface DropInResult extends IngestSummary {
  /** Rejected messages that were quarantined (the sender does not read per-item answers). */
  quarantined: number;
}

/**
 * Checks and buffers drop-in messages in one call; with `quarantineRejected`, rejected messages go
 * to `quarantine/` too (in a second call, made only when there are any).
 */
export async function ingestDropIn(
  app: FastifyInstance,
  messages: readonly DropInMessage[],
  check: DropInChecker,
  options: {
    quarantineRejected: boolean;
    /** The instant the request arrived, when the caller already used it (Segment's skew correction). */
    receivedAt?: string;
    /** The request the messages came in: its outcomes are noted on it for the metrics. */
    request: FastifyRequest;
  },
): Promise<DropInResult> {
  const quarantine: BufferItem[] = [];
  const suppression = await erasedPeople(app);
  const summary = await ingestItems(
    messages,
    (input, receivedAt) => {
      const outcome = check(input as DropInMessage, receivedAt);
      if (!outcome.ok && outcome.quarantine && options.quarantineRejected) {
        // A rejected message about an erased person is not quarantined either: it would store them.
        if (linesSuppressed(suppression, outcome.quarantine.lines))
          return { ok: false, problems: [ERASED_PERSON] };
        quarantine.push(outcome.quarantine);
      }
      return outcome;
    },
    app.ingestBuffer,
    { suppression, ...(options.receivedAt ? { receivedAt: options.receivedAt } : {}) },
  );
  noteIngestOutcomes(
    options.request,
    summary.results.map((r) => [messages[r.index]!.primary === 'event' ? 'events' : 'people', r.status]),
  );
  triggerEarlyExports(app, summary);
  logSuppressed(app, { source: messages[0]?.source ?? 'drop-in' }, summary);
  if (quarantine.length > 0) await app.ingestBuffer.add(quarantine);
  return { ...summary, quarantined: quarantine.length };
}

/**
 * Notes on the request what its items came to, by dataset and outcome: the metrics plugin counts
 * them in `ingest_records_total` once the request is answered. Every route that takes data in calls
 * it (the own shapes, the Segment and Track API drop-ins, the webhook), so none needs metrics code.
 */
export function noteIngestOutcomes(
  request: FastifyRequest,
  outcomes: Iterable<readonly [Dataset, ItemStatus]>,
): void {
  request.ingestOutcomes ??= [];
  const noted = request.ingestOutcomes;
  for (const [dataset, status] of outcomes) {
    const entry = noted.find((o) => o.dataset === dataset && o.status === status);
    if (entry) entry.n += 1;
    else noted.push({ dataset, status, n: 1 });
  }
}

/**
 * `onRequest` for routes that both the project's own senders (Bearer key) and Segment SDKs (HTTP
 * Basic with the write key as user name) call: either credential, with a key from `API_KEYS`.
 */
export function requireIngestKey(keys: readonly string[], challenge: string) {
  const isKey = ingestKeyMatcher(keys);
  const headers = { 'www-authenticate': challenge };
  return async function onRequest(request: FastifyRequest): Promise<void> {
    const key = bearerToken(request) ?? basicCredentials(request)?.user;
    if (!key) throw new HttpError(401, 'unauthorized', 'missing credentials', headers);
    if (!isKey(key)) throw new HttpError(401, 'unauthorized', 'invalid credentials', headers);
  };
}

/**
 * Records of erased people still arriving mean a sender has not forgotten them: worth a log line,
 * with the count only (never an identifier).
 */
export function logSuppressed(
  app: FastifyInstance,
  where: Record<string, string>,
  summary: Pick<IngestSummary, 'suppressed'>,
): void {
  if (summary.suppressed > 0)
    app.log.info({ ...where, suppressed: summary.suppressed }, 'ingest refused records of erased people');
}

/** Fire and forget: the answer must not wait for the queue, and a failed trigger only delays. */
export function triggerEarlyExports(app: FastifyInstance, summary: Pick<IngestSummary, 'buffer'>): void {
  for (const dataset of crossedThreshold(summary.buffer, app.env.EXPORT_TRIGGER_RECORDS)) {
    Promise.resolve()
      .then(() => app.requestExport(dataset))
      .catch((error: unknown) =>
        app.log.warn({ dataset, errorType: (error as Error)?.name }, 'could not request an early export'),
      );
  }
}
