import { hash } from 'node:crypto';
import type { MemberRecord } from '../contract/records.js';
import { PersonIndex } from '../people/person-index.js';
import {
  newRunId,
  type PeopleSnapshotManifest,
  peopleManifestKey,
  readPeopleSnapshot,
  updatePeopleSnapshot,
} from '../people/snapshot.js';
import { writeJsonl } from '../storage/jsonl.js';
import { keys } from '../storage/keys.js';
import { type ObjectStore, readJson, writeJson } from '../storage/object-store.js';
import { PersonColumns, PersonTable } from './columns.js';
import { type CompiledAudience, Compiler, type Expr, resetSources, type Source } from './compile.js';
import {
  type AudienceConfig,
  type AudienceDefinition,
  buildOrder,
  holdoutSalt,
  withDependencies,
} from './config.js';
import { isHoldout } from './holdout.js';
import { AUDIENCE_MANIFEST_VERSION, type AudienceManifest } from './manifest.js';
import { latestBuiltDay, readMembers } from './members.js';
import { type ScanResult, scanRecords } from './scan.js';
import { compareRanked, topFractionCount } from './select.js';

/**
 * The daily build (DESIGN.md "Audience configuration", semantics exact):
 * people snapshot → one streaming scan of the partitions the rules need → per audience, in
 * dependency order: universe → `when` → minus `exclude` members and `never_send` people → score →
 * top fraction (score desc, customer_id asc) → holdout split → `entered` carried over → members
 * and manifest.
 */

export interface BuildProgress {
  phase: 'people' | 'snapshot' | 'scan' | 'audience';
  done: number;
  total: number;
  audience?: string;
}

export interface BuildOptions {
  store: ObjectStore;
  config: Pick<AudienceConfig, 'audiences' | 'never_send'>;
  day: string;
  /** Build only these (and the audiences they exclude, which must exist for the same day). */
  audienceIds?: readonly string[];
  onProgress?: (progress: BuildProgress) => void;
  runId?: string;
  /** Bring the people snapshot up to date first (default true). */
  updateSnapshot?: boolean;
  /** Worker threads for the scan (0: scan on this thread); default by input size and cores. */
  scanThreads?: number;
}

export interface BuildResult {
  run_id: string;
  day: string;
  people: PeopleSnapshotManifest;
  scan: {
    seconds: number;
    records_scanned: number;
    records_per_second: number;
    passes: number;
    reordered_duplicates: number;
    threads: number;
  };
  audiences: AudienceManifest[];
}

export async function buildAudiences(options: BuildOptions): Promise<BuildResult> {
  const { store, config, day } = options;
  const runId = options.runId ?? newRunId('build');
  const progress = options.onProgress;

  const people =
    options.updateSnapshot === false
      ? await readJson<PeopleSnapshotManifest>(store, peopleManifestKey(day))
      : await updatePeopleSnapshot({
          store,
          day,
          onProgress: (done, total) => progress?.({ phase: 'people', done, total }),
        });

  const definitions = options.audienceIds
    ? withDependencies(config.audiences, options.audienceIds)
    : buildOrder(config.audiences);

  const columns = new PersonColumns(people.people + 1024);
  const persons = new PersonTable(columns);
  const compiler = new Compiler(columns, day);
  const compiled = definitions.map((d) => compiler.audience(d));
  const neverSendOwn = new Set<Source>();
  const neverSend: Expr | undefined = config.never_send
    ? compiler.condition(config.never_send, 30, neverSendOwn)
    : undefined;

  // The snapshot: person numbers, identity resolution, and person conditions, in one read.
  const snapshotStarted = process.hrtime.bigint();
  const index = PersonIndex.builder(people.people);
  for await (const person of readPeopleSnapshot(store, day)) {
    const p = persons.intern(person.customer_id);
    persons.inSnapshot.data[p] = 1;
    index.add(person, p);
    for (const atom of compiler.personAtoms) atom.bits.data[p] = atom.test(person) ? 1 : 0;
  }
  const snapshotCount = persons.count;
  const snapshotSeconds = seconds(snapshotStarted);
  progress?.({ phase: 'snapshot', done: snapshotCount, total: snapshotCount });

  const scan = await scanRecords({
    store,
    day,
    plans: [
      { dataset: 'events', sources: compiler.sources.filter((s) => s.dataset === 'events') },
      { dataset: 'messages', sources: compiler.sources.filter((s) => s.dataset === 'messages') },
    ],
    persons,
    people: index.finish(),
    resetColumns: () => resetSources(compiler.sources),
    onProgress: (done, total) => progress?.({ phase: 'scan', done, total }),
    ...(options.scanThreads !== undefined ? { threads: options.scanThreads } : {}),
  });
  // People known only from records have no profile: person conditions see an empty one.
  for (const atom of compiler.personAtoms) {
    for (let p = snapshotCount; p < persons.count; p++) atom.bits.data[p] = atom.onEmpty ? 1 : 0;
  }

  const n = persons.count;
  const blocked = new Uint8Array(n);
  if (neverSend) for (let p = 0; p < n; p++) if (neverSend(p)) blocked[p] = 1;

  const memberFlags = new Map<string, Uint8Array>();
  const manifests: AudienceManifest[] = [];
  for (let i = 0; i < compiled.length; i++) {
    const audience = compiled[i]!;
    progress?.({ phase: 'audience', done: i, total: compiled.length, audience: audience.definition.id });
    const manifest = await buildOne({
      store,
      day,
      runId,
      audience,
      persons,
      blocked,
      neverSendSources: [...neverSendOwn],
      neverSendCondition: config.never_send,
      memberFlags,
      scan,
      snapshotSeconds,
    });
    manifests.push(manifest);
  }
  progress?.({ phase: 'audience', done: compiled.length, total: compiled.length });

  const scanned = scan.stats.events.lines + scan.stats.messages.lines;
  const requested = options.audienceIds ? new Set(options.audienceIds) : undefined;
  return {
    run_id: runId,
    day,
    people,
    scan: {
      seconds: scan.seconds,
      records_scanned: scanned,
      records_per_second: scan.seconds > 0 ? scanned / scan.seconds : 0,
      passes: scan.passes,
      reordered_duplicates: scan.reorderedDuplicates,
      threads: scan.threads,
    },
    // Dependencies were rebuilt too (their members feed `exclude`); report what was asked for first.
    audiences: requested
      ? [
          ...manifests.filter((m) => requested.has(m.audience)),
          ...manifests.filter((m) => !requested.has(m.audience)),
        ]
      : manifests,
  };
}

interface BuildOneInput {
  store: ObjectStore;
  day: string;
  runId: string;
  audience: CompiledAudience;
  persons: PersonTable;
  blocked: Uint8Array;
  neverSendSources: Source[];
  neverSendCondition: AudienceConfig['never_send'];
  memberFlags: Map<string, Uint8Array>;
  scan: ScanResult;
  snapshotSeconds: number;
}

async function buildOne(input: BuildOneInput): Promise<AudienceManifest> {
  const { store, day, audience, persons, blocked, memberFlags } = input;
  const def = audience.definition;
  const evaluateStarted = process.hrtime.bigint();
  const n = persons.count;
  const inSnapshot = persons.inSnapshot.data;
  const own = audience.sources;

  const excludes = def.exclude.map((id) => ({ id, flags: memberFlags.get(id)! }));
  const excludedCounts: Record<string, number> = {};
  for (const e of excludes) excludedCounts[`audience:${e.id}`] = 0;
  excludedCounts.never_send = 0;

  let universe = 0;
  let matched = 0;
  let removed = 0;
  const eligible: number[] = [];
  for (let p = 0; p < n; p++) {
    let known = inSnapshot[p] === 1;
    if (!known) {
      for (const s of own) {
        if (s.count.data[p]! > 0) {
          known = true;
          break;
        }
      }
    }
    if (!known) continue;
    universe += 1;
    if (!audience.condition(p)) continue;
    matched += 1;
    let out = false;
    for (const e of excludes) {
      if (e.flags[p] === 1) {
        excludedCounts[`audience:${e.id}`]! += 1;
        out = true;
      }
    }
    if (blocked[p] === 1) {
      excludedCounts.never_send! += 1;
      out = true;
    }
    if (out) removed += 1;
    else eligible.push(p);
  }

  // Score in IEEE doubles, term by term in order (DESIGN); segments score 0.
  const isTop = def.type === 'top_fraction';
  const scores = new Float64Array(n);
  if (isTop) {
    for (const p of eligible) {
      let score = 0;
      for (const term of audience.terms) score += term.weight * term.read(p);
      scores[p] = score;
    }
  }
  const ids = persons.ids;
  eligible.sort((a, b) => compareRanked(scores[a]!, ids[a]!, scores[b]!, ids[b]!));
  const k = isTop ? topFractionCount(def.top_fraction!, eligible.length) : eligible.length;
  const selected = eligible.slice(0, k);

  const holdoutFraction = isTop ? (def.holdout?.fraction ?? 0) : 0;
  const salt = holdoutSalt(def);
  const previousDay = await latestBuiltDay(store, def.id, { before: day });
  const previous = new Map<string, string>();
  if (previousDay) {
    for await (const m of readMembers(store, def.id, previousDay)) previous.set(m.customer_id, m.entered);
  }

  const flags = new Uint8Array(n);
  const members: MemberRecord[] = new Array(selected.length);
  let holdout = 0;
  let carried = 0;
  for (let r = 0; r < selected.length; r++) {
    const p = selected[r]!;
    flags[p] = 1;
    const customerId = ids[p]!;
    const inHoldout = isHoldout(salt, customerId, holdoutFraction);
    if (inHoldout) holdout += 1;
    const before = previous.get(customerId);
    if (before !== undefined) carried += 1;
    members[r] = {
      customer_id: customerId,
      group: inHoldout ? 'holdout' : 'treatment',
      score: isTop ? scores[p]! : 0,
      rank: r + 1,
      entered: before ?? day,
    };
  }
  memberFlags.set(def.id, flags);
  const evaluateSeconds = seconds(evaluateStarted);

  const writeStarted = process.hrtime.bigint();
  const membersKey = keys.members(def.id, day);
  await writeJsonl(store, membersKey, members);

  // What this audience read: its own sources' datasets and windows, plus never_send's.
  const readSources = [...own, ...input.neverSendSources];
  const fromBy = { events: undefined as string | undefined, messages: undefined as string | undefined };
  for (const s of readSources) {
    const f = fromBy[s.dataset];
    if (f === undefined || s.fromDay < f) fromBy[s.dataset] = s.fromDay;
  }
  const partsOf = (dataset: 'events' | 'messages') => {
    const from = fromBy[dataset];
    if (from === undefined) return [];
    return input.scan.inputs[dataset].filter((key) => dayOfKey(key) >= from);
  };
  const parts = { events: partsOf('events'), messages: partsOf('messages') };
  const lines = (list: string[]) => list.reduce((sum, key) => sum + (input.scan.linesByKey.get(key) ?? 0), 0);
  const partSet = new Set([...parts.events, ...parts.messages]);
  const datasetRecords = (dataset: 'events' | 'messages') => {
    const st = input.scan.stats[dataset];
    const used = parts[dataset].length > 0;
    return {
      lines: lines(parts[dataset]),
      relevant: used ? st.relevant : 0,
      duplicates: used ? st.duplicates : 0,
      unresolved: used ? st.unresolved : 0,
    };
  };
  const records = { events: datasetRecords('events'), messages: datasetRecords('messages') };
  const windowFrom =
    [fromBy.events, fromBy.messages].filter((d): d is string => d !== undefined).sort()[0] ?? day;
  const scoreStats =
    isTop && selected.length > 0
      ? {
          max: scores[selected[0]!]!,
          min: scores[eligible[eligible.length - 1]!]!,
          cutoff: scores[selected[selected.length - 1]!]!,
        }
      : null;

  const manifest: AudienceManifest = {
    version: AUDIENCE_MANIFEST_VERSION,
    audience: def.id,
    type: def.type,
    day,
    run_id: input.runId,
    created_at: new Date().toISOString(),
    definition_hash: definitionHash(def, input.neverSendCondition),
    lookback_days: audience.lookbackDays,
    window: { from: windowFrom, to: day },
    inputs: {
      people_snapshot: keys.peopleSnapshot(day),
      parts,
      excluded_audiences: excludes.map((e) => ({ audience: e.id, day, members: countFlags(e.flags) })),
      previous_snapshot_day: previousDay ?? null,
    },
    records_scanned: records.events.lines + records.messages.lines,
    records,
    unresolved_identities: records.events.unresolved + records.messages.unresolved,
    malformed_lines: input.scan.malformed.filter((m) => partSet.has(m.key)).length,
    malformed: input.scan.malformed.filter((m) => partSet.has(m.key)),
    counts: {
      universe,
      matched,
      excluded: excludedCounts,
      removed,
      eligible: eligible.length,
      selected: selected.length,
      treatment: selected.length - holdout,
      holdout,
    },
    top_fraction: isTop ? def.top_fraction! : null,
    holdout: { fraction: holdoutFraction, salt },
    score: scoreStats,
    entered: { carried_over: carried, new: selected.length - carried },
    timings: {
      snapshot_seconds: input.snapshotSeconds,
      scan_seconds: input.scan.seconds,
      evaluate_seconds: evaluateSeconds,
      write_seconds: 0,
    },
    members_key: membersKey,
  };
  manifest.timings.write_seconds = seconds(writeStarted);
  // Written last: a manifest means the members next to it are complete.
  await writeJson(store, keys.manifest(def.id, day), manifest);
  return manifest;
}

/** A stable hash of what decides membership: the normalized definition and `never_send`. */
export function definitionHash(
  definition: AudienceDefinition,
  neverSend: AudienceConfig['never_send'],
): string {
  const { sync: _sync, write_back: _writeBack, description: _description, ...rules } = definition;
  return hash('sha256', stableJson({ rules, never_send: neverSend ?? null }));
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function countFlags(flags: Uint8Array): number {
  let c = 0;
  for (let i = 0; i < flags.length; i++) c += flags[i]!;
  return c;
}

function dayOfKey(key: string): string {
  const m = /\/dt=(\d{4}-\d{2}-\d{2})\//.exec(key);
  return m ? m[1]! : '';
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}
