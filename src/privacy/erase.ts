import type { ConnectorId, IdentifierType } from '../../connectors/core/types.js';
import { CONNECTORS } from '../../connectors/registry.js';
import { cacheOptionsFromEnv, engineSettingsFromEnv } from '../compaction/engine-settings.js';
import { today } from '../contract/days.js';
import { Engine } from '../engine/duckdb.js';
import { localFiles } from '../engine/local-files.js';
import { faultPoint } from '../fault-point.js';
import type { SnapshotPerson } from '../people/merge.js';
import { latestSnapshotDay, readPeopleSnapshot } from '../people/snapshot.js';
import { runSyncStage, type StageContext } from '../pipeline/stages.js';
import { syncTargets } from '../pipeline/targets.js';
import { writeForgetNotice } from '../storage/forget-notices.js';
import { keys } from '../storage/keys.js';
import { listKeys, readJsonIfExists } from '../storage/object-store.js';
import { ledgerEntries } from '../sync/ledger.js';
import { type ErasureRecord, type PlatformRemoval, readErasure, saveErasure } from './erasure.js';
import {
  type HashedIdentifiers,
  hashCustomerId,
  hashesOfRecord,
  IDENTIFIER_KINDS,
  mergeHashes,
} from './identifiers.js';
import { PersonMatcher, scrubJson, scrubJsonl, scrubParquet } from './scrub.js';
import {
  SUPPRESSION_PREFIX,
  type SuppressionEntry,
  SuppressionList,
  writeSuppression,
} from './suppression.js';

/**
 * Runs an erasure request to the end, step by step, saving the record after each:
 * 1. resolve: find the person in the newest people snapshot (aliases included) by the hashes of
 *    what the request named, and keep everything they are known by — hashed;
 * 2. suppress: add those hashes to the suppression list, so nothing about them comes back;
 * 3. remove: for every audience × destination whose ledger holds them, an erasure sync run that
 *    removes exactly them (Customer.io write-back: clears the attributes) and updates the ledger;
 * 4. rewrite: every stored object that mentions them is rewritten without them (raw parts in both
 *    forms, quarantine, people and audience snapshots, run records and stored plans, outbox).
 * Every step is idempotent, so a run killed anywhere is finished by running it again.
 */

/** The steps, each saved before the next; `AUDIENCE_SYNC_FAULT=erasure:after-<step>` kills there. */
type ErasureStep = 'resolved' | 'suppressed' | 'removed' | 'rewrote-object' | 'rewritten';

export interface RunErasureOptions {
  ctx: StageContext;
  id: string;
  /** How long an erasure run waits for asynchronous platform jobs (Google). */
  finalizeWaitMs?: number;
}

export class ErasureNotFoundError extends Error {
  constructor(id: string) {
    super(`no erasure request ${id}`);
    this.name = 'ErasureNotFoundError';
  }
}

export class ErasureStepError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ErasureStepError';
  }
}

/** Prefixes never rewritten: the erasure records and the suppression list hold hashes on purpose. */
const SKIPPED_PREFIXES = ['privacy/'];
/**
 * Derived objects deleted rather than rewritten: the relevant-record and people caches hold
 * identifiers, and their entries stand for raw files and snapshots this step rewrites (so no build
 * would read them again anyway).
 */
const DROPPED_PREFIXES = [keys.relevantCachePrefix(), keys.peopleCachePrefix()];

export async function runErasure(options: RunErasureOptions): Promise<ErasureRecord> {
  const { ctx, id } = options;
  const { store } = ctx;
  const record = await readErasure(store, id);
  if (!record) throw new ErasureNotFoundError(id);
  if (record.status === 'completed' || record.status === 'no_match') return record;
  const step = async (name: ErasureStep) => {
    await saveErasure(store, record);
    faultPoint(`erasure:after-${name}`);
  };
  const log = ctx.log.child({ erasure_id: id });

  if (!record.resolved_at) {
    const found = await resolvePerson(ctx, record.requested);
    record.resolved_at = new Date().toISOString();
    if (!found) {
      // Asked again for someone already erased: say so, rather than "nobody".
      const earlier = await erasedBefore(store, record);
      record.status = earlier ? 'completed' : 'no_match';
      record.message = earlier
        ? `already erased by ${earlier}: nothing left to change`
        : 'no person matched: nobody in the people snapshot carries the given identifiers';
      record.completed_at = record.resolved_at;
      await saveErasure(store, record);
      log.info({ status: record.status }, 'erasure: nobody to erase');
      return record;
    }
    record.status = 'running';
    record.matched = { ...found.hashes, people: found.people };
    record.platform_hashes = found.platformHashes;
    await step('resolved');
  }
  const matched: HashedIdentifiers = record.matched!;
  const matcher = new PersonMatcher(matched, record.platform_hashes ?? []);

  if (!record.suppressed_at) {
    await writeSuppression(store, id, matched);
    record.suppressed_at = new Date().toISOString();
    await step('suppressed');
  }

  if (!record.removals_done_at) {
    await removeFromPlatforms(options, record, matcher);
    if (record.platforms!.some((p) => p.status === 'failed')) {
      record.status = 'failed';
      record.message = `platform removal failed for ${record
        .platforms!.filter((p) => p.status === 'failed')
        .map((p) => `${p.audience_id} → ${p.destination}`)
        .join(', ')}; the job retries`;
      await saveErasure(store, record);
      throw new ErasureStepError(record.message);
    }
    record.status = 'running';
    delete record.message;
    record.removals_done_at = new Date().toISOString();
    await step('removed');
  }

  if (!record.rewrite_done_at) {
    await rewriteObjects(options, record, matcher, step);
    record.rewrite_done_at = new Date().toISOString();
    await step('rewritten');
  }

  record.status = 'completed';
  record.completed_at = new Date().toISOString();
  await saveErasure(store, record);
  log.info(
    {
      people: record.matched?.people,
      platforms: record.platforms?.filter((p) => p.status === 'completed').length,
      objects_rewritten: record.objects_rewritten.length,
    },
    'erasure completed',
  );
  return record;
}

/** The earlier erasure whose suppression entry holds every identifier this request names. */
async function erasedBefore(
  store: StageContext['store'],
  record: ErasureRecord,
): Promise<string | undefined> {
  for await (const info of store.list(SUPPRESSION_PREFIX)) {
    const entry = await readJsonIfExists<SuppressionEntry>(store, info.key);
    if (!entry || entry.erasure_id === record.id) continue;
    const covers = IDENTIFIER_KINDS.every((k) => record.requested[k].every((h) => entry[k].includes(h)));
    if (covers) return entry.erasure_id;
  }
  return undefined;
}

interface Resolved {
  hashes: HashedIdentifiers;
  people: number;
  platformHashes: string[];
}

/** Everyone in the newest people snapshot who carries one of the requested identifiers. */
async function resolvePerson(ctx: StageContext, requested: HashedIdentifiers): Promise<Resolved | undefined> {
  const day = await latestSnapshotDay(ctx.store, '9999-12-31');
  if (!day) return undefined;
  const wanted = new SuppressionList(requested);
  const found: SnapshotPerson[] = [];
  for await (const person of readPeopleSnapshot(ctx.store, day)) {
    if (wanted.intersects(personHashes(person))) found.push(person);
  }
  if (found.length === 0) return undefined;
  const hashes = mergeHashes(requested, ...found.map(personHashes));
  return { hashes, people: found.length, platformHashes: platformHashes(ctx, found) };
}

/** A person's hashes, with the ids folded into them by alias calls. */
function personHashes(person: SnapshotPerson): HashedIdentifiers {
  const h = hashesOfRecord(person);
  for (const merged of person.merged_ids ?? []) h.customer_id.push(hashCustomerId(merged));
  return h;
}

/**
 * The match keys that single a person out. The others a platform is sent (country, city, region,
 * postal code, names, gender, birth date) are shared with other people: their hashes find everyone
 * in the same country, not this person, so they never decide what is about them.
 */
const IDENTIFYING_KEYS: ReadonlySet<string> = new Set<IdentifierType>([
  'email',
  'phone',
  'external_id',
  'maid',
]);

/** Each configured destination's identifying match keys for them: the hashed forms that platform was sent. */
function platformHashes(ctx: StageContext, people: SnapshotPerson[]): string[] {
  const out = new Set<string>();
  for (const block of Object.values(ctx.loaded.config.destinations)) {
    const type = (block as { type: string }).type;
    const connector = CONNECTORS[type as ConnectorId];
    if (!connector) continue;
    for (const person of people) {
      let keys: Record<string, unknown> | null = null;
      try {
        keys = connector.matchKeys(person, block as never) as Record<string, unknown> | null;
      } catch {
        keys = null;
      }
      for (const [kind, value] of Object.entries(keys ?? {})) {
        if (!IDENTIFYING_KEYS.has(kind)) continue;
        for (const v of Array.isArray(value) ? value : [value]) {
          // Only hashed forms: a plain customer id (Customer.io's external id) is matched by its hash.
          if (typeof v === 'string' && /^[0-9a-f]{64}$/.test(v)) out.add(v);
        }
      }
    }
  }
  return [...out].sort();
}

async function ledgerHolds(
  ctx: StageContext,
  destination: string,
  audienceId: string,
  matcher: PersonMatcher,
) {
  for await (const entry of ledgerEntries(ctx.store, destination, audienceId)) {
    if (matcher.isCustomerId(entry.customer_id)) return true;
  }
  return false;
}

async function removeFromPlatforms(
  options: RunErasureOptions,
  record: ErasureRecord,
  matcher: PersonMatcher,
) {
  const { ctx } = options;
  record.platforms ??= [];
  const runId = `erasure-${record.id}`;
  for (const target of syncTargets(ctx.loaded.config.audiences)) {
    const index = record.platforms.findIndex(
      (p) => p.destination === target.destination && p.audience_id === target.audienceId,
    );
    if (index >= 0 && record.platforms[index]!.status !== 'failed') continue;
    let removal: PlatformRemoval;
    if (!(await ledgerHolds(ctx, target.destination, target.audienceId, matcher))) {
      removal = {
        destination: target.destination,
        audience_id: target.audienceId,
        run_id: runId,
        status: 'not_held',
        removed: 0,
        requests: 0,
      };
    } else {
      try {
        const run = await runSyncStage(ctx, {
          day: today(),
          target,
          runId,
          only: { op: 'remove', matches: (customerId) => matcher.isCustomerId(customerId) },
          trigger: 'erasure',
          finalizeWaitMs: options.finalizeWaitMs ?? 10 * 60_000,
        });
        const done = run.status === 'completed';
        removal = {
          destination: target.destination,
          audience_id: target.audienceId,
          run_id: run.run_id,
          status: done ? 'completed' : 'failed',
          removed: run.plan.remove,
          requests: run.requests,
          ...(done ? { confirmed_at: run.finished_at ?? new Date().toISOString() } : {}),
          ...(done ? {} : { error: run.error?.message ?? `the run is ${run.status}` }),
        };
      } catch (error) {
        removal = {
          destination: target.destination,
          audience_id: target.audienceId,
          run_id: runId,
          status: 'failed',
          removed: 0,
          requests: 0,
          error: error instanceof Error ? `${error.name}: ${firstLine(error.message)}` : 'error',
        };
      }
    }
    if (index >= 0) record.platforms[index] = removal;
    else record.platforms.push(removal);
    await saveErasure(ctx.store, record);
    faultPoint('erasure:after-platform');
  }
}

function firstLine(message: string): string {
  return message.split('\n')[0]!.slice(0, 300);
}

async function rewriteObjects(
  options: RunErasureOptions,
  record: ErasureRecord,
  matcher: PersonMatcher,
  step: (name: ErasureStep) => Promise<void>,
) {
  const { ctx } = options;
  const { store } = ctx;
  let engine: Engine | undefined;
  let scanned = 0;
  try {
    for await (const info of store.list('')) {
      // Dropped prefixes are deleted after the loop, listed again.
      if ([...SKIPPED_PREFIXES, ...DROPPED_PREFIXES].some((p) => info.key.startsWith(p))) continue;
      let removed = 0;
      if (info.key.endsWith('.jsonl.gz')) removed = (await scrubJsonl(store, info.key, matcher)).removed;
      else if (info.key.endsWith('.json')) removed = (await scrubJson(store, info.key, matcher)).removed;
      else if (info.key.endsWith('.parquet')) {
        engine ??= await Engine.open(engineSettingsFromEnv(ctx.env));
        removed = (await scrubParquet(store, info.key, matcher, engine)).removed;
      } else continue;
      scanned += 1;
      if (removed > 0) {
        const earlier = record.objects_rewritten.find((o) => o.key === info.key);
        if (earlier) earlier.removed += removed;
        else record.objects_rewritten.push({ key: info.key, removed });
        await step('rewrote-object');
      }
    }
    // Listed after the rewrite, not during it: a build that read raw files before they were
    // scrubbed may have written entries from them meanwhile.
    const dropped: string[] = [];
    for (const prefix of DROPPED_PREFIXES) dropped.push(...(await listKeys(store, prefix)));
    await store.delete(dropped);
    // Copies of their old versions on local disk (an S3 store's read-through cache, CACHE_DIR) go
    // too: this machine's now, every other machine's before its cache is next used (the notice).
    const forgotten = [...record.objects_rewritten.map((o) => o.key), ...dropped];
    await writeForgetNotice(store, record.id, forgotten);
    await localFiles(store, cacheOptionsFromEnv(ctx.env)).forget(forgotten);
  } finally {
    engine?.close();
  }
  record.objects_scanned = scanned;
}
