import { Writable } from 'node:stream';
import type fc from 'fast-check';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { DATASETS, type Dataset } from '../../src/contract/records.js';
import { ingestKeys } from '../../src/ingest/redis-keys.js';
import { signCioWebhook } from '../../src/ingest/signature.js';
import { createLogger } from '../../src/log.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { API_KEY, deletePrefix, SIGNING_KEY, testEnv, testRedis, uniquePrefix } from '../ingest/harness.js';

/**
 * Shared set-up of the fuzz suites: a seed that can be replayed, bounded run counts, the app with
 * its own Redis prefix and a log sink, and the invariants every hostile request must keep.
 *
 * Replay a failure with `FUZZ_SEED=<seed> npx vitest run test/fuzz` (the seed is printed by
 * fast-check on failure and logged once per file); `FUZZ_RUNS=<factor>` multiplies every run count
 * for a longer soak (`FUZZ_RUNS=20`).
 */

const envSeed = process.env.FUZZ_SEED;
export const FUZZ_SEED = envSeed !== undefined && envSeed !== '' ? Number(envSeed) : Date.now() ^ 0x5eed;
if (!Number.isInteger(FUZZ_SEED)) throw new Error(`FUZZ_SEED must be an integer, got ${envSeed}`);
const factor = Number(process.env.FUZZ_RUNS ?? '1');
export const RUN_FACTOR = Number.isFinite(factor) && factor > 0 ? factor : 1;
/**
 * Timeout of a fuzz test: vitest's default grown with FUZZ_RUNS. A property that outlives its test
 * would keep sending requests while the next test runs, and their writes would mix.
 */
export const FUZZ_TIMEOUT = 30_000 * Math.max(1, RUN_FACTOR);

let announced = false;
/** fast-check parameters: the run's seed and `runs` × FUZZ_RUNS. */
export function fuzzParams<T>(runs: number, extra: fc.Parameters<T> = {}): fc.Parameters<T> {
  if (!announced) {
    announced = true;
    // One line per file, so a CI log says how to replay even a failure that happened in a hook.
    process.stderr.write(`fuzz: FUZZ_SEED=${FUZZ_SEED} FUZZ_RUNS=${RUN_FACTOR}\n`);
  }
  return { seed: FUZZ_SEED, numRuns: Math.max(1, Math.round(runs * RUN_FACTOR)), ...extra };
}

// --- prototype pollution ----------------------------------------------------------------------

/** Own property names of the prototypes an attacker would target, taken before any request. */
const PROTOTYPES = { Object: Object.prototype, Array: Array.prototype, Function: Function.prototype };
const baseline = Object.fromEntries(
  Object.entries(PROTOTYPES).map(([name, proto]) => [name, Reflect.ownKeys(proto).map(String).sort()]),
);

export function expectNoPollution(): void {
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  expect(Object.getPrototypeOf({})).toBe(Object.prototype);
  for (const [name, proto] of Object.entries(PROTOTYPES)) {
    expect(Reflect.ownKeys(proto).map(String).sort(), `${name}.prototype changed`).toEqual(baseline[name]);
  }
}

// --- the app under test -----------------------------------------------------------------------

export interface FuzzApp {
  app: FastifyInstance;
  redis: Redis;
  prefix: string;
  /** Every log line the app wrote (level info and above). */
  logs: string[];
  close(): Promise<void>;
}

export async function startFuzzApp(label: string, env: Record<string, string> = {}): Promise<FuzzApp> {
  const redis = testRedis();
  const store: TestStore = await createFsTestStore();
  const prefix = uniquePrefix(`fuzz-${label}`);
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const app = await buildApp({
    env: testEnv(env),
    redis,
    store: store.store,
    redisPrefix: prefix,
    logger: createLogger({ level: 'info' }, sink),
  });
  await app.ready();
  return {
    app,
    redis,
    prefix,
    logs,
    close: async () => {
      await app.close();
      await deletePrefix(redis, prefix);
      redis.disconnect();
      await store.cleanup();
    },
  };
}

// --- what a request left in the buffer ---------------------------------------------------------

export type StreamMark = Record<Dataset, string>;
export interface Written {
  /** Canonical records by dataset. */
  raw: Record<Dataset, Record<string, unknown>[]>;
  /** Quarantine lines by dataset. */
  quarantine: Record<Dataset, Record<string, unknown>[]>;
  /** Raw text of every line, for searches. */
  text: string;
}

/** The id of the newest entry of each stream, so that `writtenSince` sees only later entries. */
export async function markStreams(fuzz: FuzzApp): Promise<StreamMark> {
  const k = ingestKeys(fuzz.prefix);
  const out = {} as StreamMark;
  for (const d of DATASETS) {
    const last = await fuzz.redis.xrevrange(k.stream(d), '+', '-', 'COUNT', 1);
    out[d] = last[0]?.[0] ?? '0-0';
  }
  return out;
}

export async function writtenSince(fuzz: FuzzApp, mark: StreamMark): Promise<Written> {
  const k = ingestKeys(fuzz.prefix);
  const raw = { events: [], messages: [], people: [] } as Written['raw'];
  const quarantine = { events: [], messages: [], people: [] } as Written['quarantine'];
  let text = '';
  for (const d of DATASETS) {
    for (const [, fields] of await fuzz.redis.xrange(k.stream(d), `(${mark[d]}`, '+')) {
      for (let i = 0; i + 1 < fields.length; i += 2) {
        const kind = fields[i];
        if (kind !== 'r' && kind !== 'q') continue;
        const value = fields[i + 1] ?? '';
        text += `${value}\n`;
        for (const line of value.split('\n')) {
          if (!line) continue;
          (kind === 'r' ? raw : quarantine)[d].push(JSON.parse(line.slice(11)));
        }
      }
    }
  }
  return { raw, quarantine, text };
}

export function count(byDataset: Record<Dataset, unknown[]>): number {
  return DATASETS.reduce((n, d) => n + byDataset[d].length, 0);
}

// --- requests ---------------------------------------------------------------------------------

export const basicAuth = (user: string, password = '') =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

export type AuthKind = 'bearer' | 'segment' | 'track_api' | 'webhook';

/** Every route that takes data in, with how it authenticates and the statuses it documents. */
export interface IngestRoute {
  method: 'POST' | 'PUT' | 'DELETE';
  url: string;
  auth: AuthKind;
  /** Answers the docs (docs/sending-data.md) list for this route. */
  statuses: readonly number[];
  /** Inflates `Content-Encoding: gzip`. */
  gzip: boolean;
  /** Largest body it reads. */
  bodyLimit: 'ingest' | 'webhook';
}

const OWN = [202, 422, 200, 400, 401, 413, 415, 503] as const;
const SEGMENT = [200, 400, 401, 413, 415, 503] as const;
const TRACK_V1 = [200, 400, 401, 413, 415, 503] as const;
const TRACK_V2 = [200, 207, 400, 401, 413, 415, 503] as const;
const WEBHOOK = [200, 400, 401, 413, 415, 503] as const;

export const INGEST_ROUTES: readonly IngestRoute[] = [
  { method: 'POST', url: '/v1/track', auth: 'bearer', statuses: OWN, gzip: true, bodyLimit: 'ingest' },
  { method: 'POST', url: '/v1/identify', auth: 'bearer', statuses: OWN, gzip: true, bodyLimit: 'ingest' },
  ...(['batch', 'page', 'screen', 'group', 'alias'] as const).map(
    (type): IngestRoute => ({
      method: 'POST',
      url: `/v1/${type}`,
      auth: 'segment',
      statuses: SEGMENT,
      gzip: true,
      bodyLimit: 'ingest',
    }),
  ),
  {
    method: 'POST',
    url: '/v1/webhooks/customerio',
    auth: 'webhook',
    statuses: WEBHOOK,
    gzip: false,
    bodyLimit: 'webhook',
  },
  ...(
    [
      ['PUT', '/api/v1/customers/fuzz-person'],
      ['DELETE', '/api/v1/customers/fuzz-person'],
      ['POST', '/api/v1/customers/fuzz-person/suppress'],
      ['POST', '/api/v1/customers/fuzz-person/unsuppress'],
      ['POST', '/api/v1/customers/fuzz-person/events'],
      ['POST', '/api/v1/events'],
    ] as const
  ).map(
    ([method, url]): IngestRoute => ({
      method,
      url,
      auth: 'track_api',
      statuses: TRACK_V1,
      gzip: true,
      bodyLimit: 'ingest',
    }),
  ),
  ...['/api/v2/entity', '/api/v2/batch'].map(
    (url): IngestRoute => ({
      method: 'POST',
      url,
      auth: 'track_api',
      statuses: TRACK_V2,
      gzip: true,
      bodyLimit: 'ingest',
    }),
  ),
];

/** Credentials for a route; webhooks are signed over the exact bytes sent. */
export function authHeaders(route: IngestRoute, body: Buffer): Record<string, string> {
  switch (route.auth) {
    case 'bearer':
      return { authorization: `Bearer ${API_KEY}` };
    case 'segment':
      return { authorization: basicAuth(API_KEY) };
    case 'track_api':
      return { authorization: basicAuth('site-id', API_KEY) };
    case 'webhook': {
      const timestamp = Math.floor(Date.now() / 1000);
      return {
        'x-cio-timestamp': String(timestamp),
        'x-cio-signature': signCioWebhook(SIGNING_KEY, timestamp, body),
      };
    }
  }
}

export async function send(
  fuzz: FuzzApp,
  route: IngestRoute,
  body: Buffer | string,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  return fuzz.app.inject({
    method: route.method,
    url: route.url,
    payload: bytes,
    headers: { 'content-type': 'application/json', ...authHeaders(route, bytes), ...headers },
  });
}

/**
 * The invariants of every answer: a documented status (never 5xx but the buffer's 503, which these
 * tests never provoke), a JSON body, no request data echoed back.
 */
export function expectDocumentedAnswer(
  route: IngestRoute,
  res: LightMyRequestResponse,
  secrets: readonly string[] = [],
): void {
  expect(res.statusCode, `${route.method} ${route.url}: ${res.body.slice(0, 300)}`).toBeLessThan(500);
  expect(route.statuses, `${route.method} ${route.url} answered ${res.statusCode}`).toContain(res.statusCode);
  expect(() => JSON.parse(res.body)).not.toThrow();
  for (const secret of secrets) expect(res.body).not.toContain(secret);
}

/** A body answered 4xx left nothing in the buffer. */
export function expectNothingStored(route: IngestRoute, res: LightMyRequestResponse, written: Written): void {
  if (res.statusCode >= 400) {
    expect(count(written.raw), `${route.url} ${res.statusCode} stored records`).toBe(0);
    expect(count(written.quarantine), `${route.url} ${res.statusCode} stored quarantine`).toBe(0);
  }
}
