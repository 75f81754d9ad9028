import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';
import { type Env, parseEnv } from '../../src/config/env.js';
import { signCioWebhook } from '../../src/ingest/signature.js';
import { readJsonl } from '../../src/storage/jsonl.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { listKeys } from '../../src/storage/object-store.js';

/** Shared set-up for ingest / export / API tests: own Redis prefix, env, signed requests. */

export const API_KEY = 'test-ingest-key-0123456789';
export const SIGNING_KEY = 'cio-signing-key-new';
export const OLD_SIGNING_KEY = 'cio-signing-key-old';

export function testEnv(overrides: Record<string, string> = {}): Env {
  return parseEnv({
    REDIS_URL: inject('redisUrl'),
    API_KEYS: `other-key,${API_KEY}`,
    CIO_WEBHOOK_SIGNING_KEYS: `${SIGNING_KEY},${OLD_SIGNING_KEY}`,
    LOG_LEVEL: 'silent',
    ...overrides,
  });
}

export function uniquePrefix(label: string): string {
  return `test-${label}-${randomBytes(4).toString('hex')}`;
}

export function testRedis(url: string = inject('redisUrl')): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
  redis.on('error', () => {});
  return redis;
}

/** Removes every key under a test's prefix. */
export async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (found.length > 0) await redis.unlink(...found);
  } while (cursor !== '0');
}

export async function countKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    n += found.length;
  } while (cursor !== '0');
  return n;
}

export function signedHeaders(
  body: string,
  options: { key?: string; timestamp?: number } = {},
): Record<string, string> {
  const timestamp = options.timestamp ?? Math.floor(Date.now() / 1000);
  return {
    'content-type': 'application/json',
    'x-cio-timestamp': String(timestamp),
    'x-cio-signature': signCioWebhook(options.key ?? SIGNING_KEY, timestamp, body),
  };
}

export const bearer = { authorization: `Bearer ${API_KEY}` };

/** Every record under a prefix (raw or quarantine), with the key it came from. */
export async function readAll<T = Record<string, unknown>>(
  store: ObjectStore,
  prefix: string,
): Promise<{ key: string; record: T }[]> {
  const out: { key: string; record: T }[] = [];
  for (const key of await listKeys(store, prefix)) {
    for await (const record of readJsonl<T>(store, key)) out.push({ key, record });
  }
  return out;
}

let counter = 0;
/** A Customer.io reporting webhook body as the spec documents it. */
export function cioEvent(
  objectType: string,
  metric: string,
  overrides: { event_id?: string; timestamp?: number; data?: Record<string, unknown> } = {},
): Record<string, unknown> {
  counter += 1;
  return {
    event_id: overrides.event_id ?? `01HTEST${Date.now().toString(36).toUpperCase()}${counter}`,
    object_type: objectType,
    metric,
    timestamp: overrides.timestamp ?? 1_764_357_285,
    data: {
      identifiers: { id: `cust-${counter % 7}`, email: null, cio_id: `cio${counter % 7}` },
      ...(objectType === 'customer' ? {} : { delivery_id: `dlv-${counter}`, campaign_id: 12, action_id: 34 }),
      ...overrides.data,
    },
  };
}

/** The canonical records waiting in a buffer stream (`r` lines are `<day>\t<json>`). */
export async function streamRecords(redis: Redis, stream: string): Promise<Record<string, unknown>[]> {
  const entries = await redis.xrange(stream, '-', '+');
  const out: Record<string, unknown>[] = [];
  for (const [, fields] of entries) {
    const text = fields[fields.indexOf('r') + 1] ?? '';
    for (const line of text.split('\n')) if (line) out.push(JSON.parse(line.slice(11)));
  }
  return out;
}
