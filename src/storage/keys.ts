import type { Dataset } from '../contract/records.js';

/**
 * Every object key the project writes, in one place (layout in docs/store-layout.md). Hive-style `dt=`
 * partitions let Athena / Snowflake / BigQuery read the same objects as external tables.
 */

export const LAYOUT_VERSION = 1;
export const LAYOUT_KEY = '_layout.json';

/** Audience, destination and run ids become path segments: keep them boring. */
const SEGMENT_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

export function assertSegment(kind: string, value: string): string {
  if (!SEGMENT_RE.test(value) || value.includes('..')) {
    throw new Error(
      `invalid ${kind} ${JSON.stringify(value.slice(0, 80))}: use letters, digits, '_', '-' and '.'`,
    );
  }
  return value;
}

const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;
function day(dt: string): string {
  if (!DAY_RE.test(dt)) throw new Error(`invalid day ${JSON.stringify(dt)}: expected YYYY-MM-DD`);
  return dt;
}

export const keys = {
  rawPrefix: (dataset: Dataset, dt?: string) => (dt ? `raw/${dataset}/dt=${day(dt)}/` : `raw/${dataset}/`),
  /** `first` / `last` are the Redis stream ids the part holds, so a re-run rewrites the same key. */
  rawPart: (dataset: Dataset, dt: string, first: string, last: string) =>
    `raw/${dataset}/dt=${day(dt)}/part-${assertSegment('part id', first)}-${assertSegment('part id', last)}.jsonl.gz`,
  quarantinePrefix: (dataset: string, dt?: string) =>
    dt
      ? `quarantine/${assertSegment('dataset', dataset)}/dt=${day(dt)}/`
      : `quarantine/${assertSegment('dataset', dataset)}/`,
  quarantinePart: (dataset: string, dt: string, name: string) =>
    `quarantine/${assertSegment('dataset', dataset)}/dt=${day(dt)}/part-${assertSegment('part name', name)}.jsonl.gz`,
  /** The relevant-record cache (audiences/relevant-cache.ts): derived, deleted and rebuilt at will. */
  relevantCachePrefix: (dataset?: Dataset) => (dataset ? `cache/relevant/${dataset}/` : 'cache/relevant/'),
  /**
   * One raw file's relevant records under one plan: `<file stem>-<fingerprint>.parquet`, and for a
   * JSON Lines part also `….lines.json` (its line count and malformed lines).
   */
  relevantCacheEntry: (
    dataset: Dataset,
    dt: string,
    stem: string,
    fingerprint: string,
    kind: 'rows' | 'lines',
  ) =>
    `cache/relevant/${dataset}/dt=${day(dt)}/${assertSegment('file stem', stem)}-${assertSegment('fingerprint', fingerprint)}${kind === 'rows' ? '.parquet' : '.lines.json'}`,
  /**
   * The people cache (audiences/people-cache.ts): the build's `people` table of one snapshot under
   * one plan, `people-<fingerprint>.parquet`; derived like the relevant-record cache.
   */
  peopleCachePrefix: (dt?: string) => (dt ? `cache/people/dt=${day(dt)}/` : 'cache/people/'),
  peopleCacheEntry: (dt: string, fingerprint: string) =>
    `cache/people/dt=${day(dt)}/people-${assertSegment('fingerprint', fingerprint)}.parquet`,
  peoplePrefix: () => 'people/',
  peopleSnapshot: (dt: string) => `people/dt=${day(dt)}/people.jsonl.gz`,
  /** The new lines of the people a fold added or changed (its manifest's `changes` names it). */
  peopleChangesPrefix: (dt: string) => `people/dt=${day(dt)}/changes-`,
  peopleChanges: (dt: string, runId: string) =>
    `people/dt=${day(dt)}/changes-${assertSegment('run id', runId)}.jsonl.gz`,
  audiencePrefix: (audienceId: string) => `audiences/${assertSegment('audience id', audienceId)}/`,
  members: (audienceId: string, dt: string) =>
    `audiences/${assertSegment('audience id', audienceId)}/dt=${day(dt)}/members.jsonl.gz`,
  manifest: (audienceId: string, dt: string) =>
    `audiences/${assertSegment('audience id', audienceId)}/dt=${day(dt)}/manifest.json`,
  /** Everything one audience × destination keeps: ledger, state and runs. */
  syncPrefix: (destination: string, audienceId: string) =>
    `sync/${assertSegment('destination', destination)}/${assertSegment('audience id', audienceId)}/`,
  /** What the platform holds, one line per person in `customer_id` (code point) order. */
  ledger: (destination: string, audienceId: string) =>
    `${keys.syncPrefix(destination, audienceId)}ledger.jsonl.gz`,
  /** The platform-side audience the ledger belongs to. */
  syncState: (destination: string, audienceId: string) =>
    `${keys.syncPrefix(destination, audienceId)}state.json`,
  syncRunsPrefix: (destination: string, audienceId: string) =>
    `${keys.syncPrefix(destination, audienceId)}runs/`,
  syncRun: (destination: string, audienceId: string, runId: string) =>
    `${keys.syncRunsPrefix(destination, audienceId)}${assertSegment('run id', runId)}.json`,
  /**
   * A run's stored plan, one object per operation (`removes`, `adds`; a replace stores `adds`), each
   * in `customer_id` order: the batches a resumed run cuts again. Runs started before plans were
   * split stored one object, `<run>.plan.jsonl.gz`, with an `op` on every line (`legacy`).
   */
  syncPlan: (destination: string, audienceId: string, runId: string, part: 'removes' | 'adds' | 'legacy') =>
    `${keys.syncRunsPrefix(destination, audienceId)}${assertSegment('run id', runId)}.${part === 'legacy' ? 'plan' : part}.jsonl.gz`,
  outboxPrefix: (destination: string, audienceId: string, runId: string) =>
    `outbox/${assertSegment('destination', destination)}/${assertSegment('audience id', audienceId)}/${assertSegment('run id', runId)}/`,
  /** A dry run's report and plan live beside its requests, never among real runs. */
  outboxRun: (destination: string, audienceId: string, runId: string) =>
    `${keys.outboxPrefix(destination, audienceId, runId)}run.json`,
  outboxPlan: (destination: string, audienceId: string, runId: string, part: 'removes' | 'adds') =>
    `${keys.outboxPrefix(destination, audienceId, runId)}plan-${part}.jsonl.gz`,
  liftReport: (audienceId: string, dt: string, ext: 'json' | 'html') =>
    `reports/lift/${assertSegment('audience id', audienceId)}/dt=${day(dt)}/report.${ext}`,
} as const;

/** The `dt=` day of a partitioned key, or `undefined`. */
export function partitionDay(key: string): string | undefined {
  const m = /(?:^|\/)dt=(\d{4}-\d{2}-\d{2})\//.exec(key);
  return m?.[1];
}
