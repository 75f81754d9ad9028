/**
 * What a health check reports. A finding is a condition that holds *now*; the alert layer turns
 * changes in the set of findings into notifications (firing → resolved), so checks stay pure.
 * Messages name the dataset / audience / destination and carry counts, days and codes — never a
 * record's contents.
 */
export const SEVERITIES = ['info', 'warning', 'critical'] as const;
export type Severity = (typeof SEVERITIES)[number];

export type FindingKind =
  | 'freshness'
  | 'buffer_stalled'
  | 'volume_drop'
  | 'volume_spike'
  | 'schema_fields'
  | 'event_names'
  | 'quarantine_rate'
  | 'coverage_drop'
  | 'match_rate_drop'
  | 'realtime_lag'
  | 'refresh_incomplete'
  | 'score_table_stale'
  | 'destination_failing'
  | 'check_failed';

export interface FindingSubject {
  dataset?: string;
  audience?: string;
  destination?: string;
}

export interface Finding {
  /** Stable across runs while the same condition holds: the alert state is keyed on it. */
  id: string;
  severity: Severity;
  kind: FindingKind;
  subject: FindingSubject;
  message: string;
  /** Numbers behind the message, for `--json` and dashboards. */
  details?: Record<string, number | string | null>;
}

export function severityRank(s: Severity): number {
  return SEVERITIES.indexOf(s);
}

/** Ids end up in JSON keys and log fields: one boring alphabet. */
export function findingId(kind: FindingKind, ...parts: string[]): string {
  return [kind, ...parts].join(':');
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

export function duration(ms: number): string {
  const minutes = Math.round(ms / 60_000);
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  const rest = minutes % 60;
  if (hours < 48) return rest ? `${hours} h ${rest} min` : `${hours} h`;
  return `${Math.floor(hours / 24)} days ${hours % 24} h`;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
