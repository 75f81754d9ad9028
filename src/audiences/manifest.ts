import type { MalformedLine } from '../storage/jsonl.js';

/**
 * `audiences/<id>/dt=D/manifest.json`: what a build did and what it read, so a number on a
 * dashboard can be traced back to inputs, and a rebuild can be compared with the original.
 */
export const AUDIENCE_MANIFEST_VERSION = 1;

export interface AudienceManifest {
  version: number;
  audience: string;
  type: 'segment' | 'top_fraction';
  day: string;
  run_id: string;
  created_at: string;
  /** sha256 of the normalized definition plus `never_send`: changes when the rules change. */
  definition_hash: string;
  lookback_days: number;
  /** First and last day of event time the rules looked at (never_send included). */
  window: { from: string; to: string };
  inputs: {
    people_snapshot: string;
    /** Raw parts read for this audience, by dataset. */
    parts: { events: string[]; messages: string[] };
    excluded_audiences: { audience: string; day: string; members: number }[];
    previous_snapshot_day: string | null;
  };
  records_scanned: number;
  records: {
    events: { lines: number; relevant: number; duplicates: number; unresolved: number };
    messages: { lines: number; relevant: number; duplicates: number; unresolved: number };
  };
  unresolved_identities: number;
  malformed_lines: number;
  malformed: MalformedLine[];
  counts: {
    /** People considered: everyone in the snapshot plus anyone with a record matching the audience's rules. */
    universe: number;
    matched: number;
    /** Matched people each exclusion applies to (a person can count under several reasons). */
    excluded: Record<string, number>;
    /** Matched people removed by at least one exclusion. */
    removed: number;
    eligible: number;
    selected: number;
    treatment: number;
    holdout: number;
  };
  top_fraction: number | null;
  holdout: { fraction: number; salt: string };
  score: { max: number; min: number; cutoff: number } | null;
  entered: { carried_over: number; new: number };
  timings: {
    snapshot_seconds: number;
    scan_seconds: number;
    evaluate_seconds: number;
    write_seconds: number;
  };
  members_key: string;
}
