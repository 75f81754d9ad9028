import type { Dataset } from '../../contract/records.js';
import type { CheckContext } from '../context.js';
import { type Finding, findingId, median, percent } from '../findings.js';
import type { DayProfile } from '../profile.js';

/** How many names a message lists before it says "and N more". */
const LIST_LIMIT = 5;

/**
 * Schema drift of the last complete day against the baseline days: fields that vanished or
 * appeared (a renamed field shows as both, in one finding), event names that appeared or stopped,
 * and a jump in the quarantine rate.
 */
export async function checkDrift(ctx: CheckContext): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const dataset of ctx.datasets) {
    const profiles = await ctx.profiles(dataset);
    findings.push(...fieldDrift(ctx, dataset, profiles.day, profiles.baseline));
    if (dataset !== 'people') findings.push(...nameDrift(ctx, dataset, profiles.day, profiles.baseline));
    findings.push(...quarantineJump(ctx, dataset, profiles.day, profiles.baseline));
  }
  return findings;
}

function fieldDrift(ctx: CheckContext, dataset: Dataset, day: DayProfile, baseline: DayProfile[]): Finding[] {
  const s = ctx.config.health.schema;
  const baseRecords = sum(baseline.map((p) => p.records));
  if (day.records < s.min_records || baseRecords < s.min_records) return [];
  const baseFields = sumMaps(baseline.map((p) => p.fields));
  const vanished: string[] = [];
  for (const [field, n] of Object.entries(baseFields)) {
    const baseShare = n / baseRecords;
    if (baseShare < s.established_share) continue;
    const dayShare = (day.fields[field] ?? 0) / day.records;
    if (dayShare < baseShare * s.vanished_ratio) {
      vanished.push(`${field} (in ${percent(dayShare)} of records, was ${percent(baseShare)})`);
    }
  }
  const added: string[] = [];
  // When the baseline hit the cap on distinct fields, "never seen" cannot be told apart from "not kept".
  const baselineComplete = baseline.every((p) => p.overflow.fields === 0);
  if (baselineComplete) {
    for (const [field, n] of Object.entries(day.fields)) {
      const share = n / day.records;
      if (!(field in baseFields) && share >= s.new_field_share)
        added.push(`${field} (in ${percent(share)} of records)`);
    }
  }
  if (vanished.length === 0 && added.length === 0) return [];
  const parts = [];
  if (vanished.length) parts.push(`vanished ${list(vanished)}`);
  if (added.length) parts.push(`new ${list(added)}`);
  return [
    {
      id: findingId('schema_fields', dataset),
      severity: 'warning',
      kind: 'schema_fields',
      subject: { dataset },
      message: `${dataset}: fields changed on ${ctx.day} against the ${baseline.length} days before: ${parts.join('; ')}`,
      details: { day: ctx.day, vanished: vanished.length, added: added.length },
    },
  ];
}

function nameDrift(ctx: CheckContext, dataset: Dataset, day: DayProfile, baseline: DayProfile[]): Finding[] {
  const s = ctx.config.health.schema;
  // Without a baseline (a new install, a dataset that just started) every name would be "new".
  if (sum(baseline.map((p) => p.records)) < s.min_records) return [];
  const baseNames = sumMaps(baseline.map((p) => p.names));
  const what = dataset === 'events' ? 'event names' : 'message channel/metric pairs';
  const added: string[] = [];
  if (baseline.every((p) => p.overflow.names === 0)) {
    for (const [name, n] of Object.entries(day.names)) {
      if (!(name in baseNames) && n >= s.new_name_min_records) added.push(`${name} (${n} records)`);
    }
  }
  const stopped: string[] = [];
  if (day.records >= s.min_records) {
    for (const name of Object.keys(baseNames)) {
      const daily = median(baseline.map((p) => p.names[name] ?? 0));
      if (daily >= s.new_name_min_records && (day.names[name] ?? 0) === 0) {
        stopped.push(`${name} (median ${daily} a day)`);
      }
    }
  }
  if (added.length === 0 && stopped.length === 0) return [];
  const parts = [];
  if (added.length) parts.push(`new ${list(added)}`);
  if (stopped.length) parts.push(`no longer seen ${list(stopped)}`);
  return [
    {
      id: findingId('event_names', dataset),
      severity: 'warning',
      kind: 'event_names',
      subject: { dataset },
      message: `${dataset}: ${what} changed on ${ctx.day}: ${parts.join('; ')}`,
      details: { day: ctx.day, added: added.length, stopped: stopped.length },
    },
  ];
}

/** Quarantine lines per record received (stored records plus rejected ones). */
export function quarantineRate(p: DayProfile): number | undefined {
  const received = p.records + p.rejected;
  return received > 0 ? p.quarantined / received : undefined;
}

function quarantineJump(
  ctx: CheckContext,
  dataset: Dataset,
  day: DayProfile,
  baseline: DayProfile[],
): Finding[] {
  const s = ctx.config.health.schema;
  const rate = quarantineRate(day);
  if (rate === undefined || day.quarantined < s.min_quarantined) return [];
  const baseRates = baseline.map(quarantineRate).filter((r): r is number => r !== undefined);
  const base = median(baseRates);
  if (rate - base < s.quarantine_jump) return [];
  const reasons = Object.entries(day.reasons)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 3)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  return [
    {
      id: findingId('quarantine_rate', dataset),
      severity: rate >= 0.5 ? 'critical' : 'warning',
      kind: 'quarantine_rate',
      subject: { dataset },
      message:
        `${dataset}: ${percent(rate)} of the records of ${ctx.day} were quarantined ` +
        `(median of the ${baseline.length} days before: ${percent(base)}); top reasons: ${reasons}`,
      details: { day: ctx.day, rate, baseline_rate: base, quarantined: day.quarantined },
    },
  ];
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function sumMaps(maps: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of maps) for (const [k, v] of Object.entries(m)) out[k] = (out[k] ?? 0) + v;
  return out;
}

function list(items: string[]): string {
  const shown = items.slice(0, LIST_LIMIT).join(', ');
  return items.length > LIST_LIMIT ? `${shown} and ${items.length - LIST_LIMIT} more` : shown;
}
