import { stringify } from 'yaml';
import { IDENTIFIER_TYPES, type IdentifierType } from '../../connectors/core/types.js';
import type { AudienceDefinition } from '../audiences/config.js';
import { type Explanation, formatExplanation } from '../audiences/explain.js';
import type { AudienceManifest } from '../audiences/manifest.js';
import type { AlertRecord } from '../health/alerts.js';
import { quarantineRate } from '../health/checks/drift.js';
import { duration, type FindingKind } from '../health/findings.js';
import type { LiftReport } from '../measure/report.js';
import type { planTarget } from '../pipeline/plan-report.js';
import type { SyncRunRecord } from '../sync/run-record.js';
import type { DatasetHealth, DayRow, Membership, SizePoint } from './data.js';
import { fmtDuration, fmtInt, fmtPercent, html, jsonBlock, page, type SafeHtml } from './html.js';

/** The console's pages as HTML strings. Every value goes through `html`, which escapes it. */

export type PlanPreview = Awaited<ReturnType<typeof planTarget>>;

const enc = encodeURIComponent;

/** What to do first, per alert kind: the first step of docs/operations.md#alerts. */
export const ALERT_ACTIONS: Record<FindingKind, string> = {
  freshness:
    'Check /readyz and audience_sync_buffer_records: a growing buffer means the export is stuck, an empty one that nothing arrives (check the senders and their 401s).',
  buffer_stalled:
    'Check that a worker runs and the export queue moves (/admin/queues); read the worker log for store errors. `audience-sync export` drains by hand.',
  volume_drop:
    'A sender stopped or data arrives late: check freshness, the senders, and the quarantine rate.',
  volume_spike:
    'A replayed backfill, a retry storm or a real event: check the senders if it was not expected.',
  schema_fields:
    'Find who changed the payload; fix rules that use a vanished field and rebuild the affected days.',
  event_names: 'A renamed event: map it in event_aliases or fix the sender.',
  quarantine_rate:
    'Read the top reason codes in the message and fix the sender; records rejected entirely must be re-sent.',
  coverage_drop:
    'Fewer members carry a usable identifier: check identify calls and bad_email / bad_phone quarantine.',
  match_rate_drop:
    'If it persists, compare identifier coverage first, then check normalization with `audience-sync hash`.',
  realtime_lag:
    'Is the destination throttled, or is a daily sync holding its lock? Check the realtime queue of that destination at /admin/queues.',
  destination_failing:
    'Read the run record: renew an expired token (auth), lower concurrency (rate_limited), or confirm a guarded sync if the change is real.',
  refresh_incomplete:
    'Is a worker running and did the schedule fire? `audience-sync refresh --date D` runs the day (--force if it already ran).',
  score_table_stale:
    'The system that writes the score table is late or failed: have it write a partition with its _SUCCESS marker, then rebuild the day (`audience-sync build --date D`).',
  check_failed: 'A check could not run: fix store or Redis access first.',
};

function statusBadge(status: string): SafeHtml {
  return html`<span class="status status-${status}">${status}</span>`;
}

export function signInPage(options: { error?: string }): string {
  return page({
    title: 'Sign in',
    body: html`<form method="post" action="/console/sign-in" class="card sign-in">
  ${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
  <label for="key">Admin key</label>
  <input id="key" name="key" type="password" autocomplete="current-password" required autofocus>
  <p class="hint">One of the keys in <code>ADMIN_API_KEYS</code>. It is checked once; the session cookie does not contain it.</p>
  <button type="submit">Sign in</button>
</form>`,
  });
}

export function errorPage(status: number, message: string, csrf?: string): string {
  return page({
    title: status === 404 ? 'Not found' : status === 429 ? 'Too many attempts' : 'Something went wrong',
    ...(csrf ? { csrf } : {}),
    body: html`<p class="error" role="alert">${message}</p><p><a href="/console">Back to the overview</a></p>`,
  });
}

export function overviewPage(csrf: string, history: DayRow[], alerts: AlertRecord[]): string {
  const alertList =
    alerts.length === 0
      ? html`<p class="ok">No alerts are firing.</p>`
      : html`<ul class="alerts">${alerts.map(
          (a) => html`<li class="alert alert-${a.severity}">
  <p><strong>${a.severity}</strong> <code>${a.id}</code> since ${a.fired_at}</p>
  <p>${a.message}</p>
  <p class="todo">What to do: ${ALERT_ACTIONS[a.kind] ?? 'see docs/operations.md'}</p>
</li>`,
        )}</ul>`;
  const days =
    history.length === 0
      ? html`<p>No refresh has written anything to the store yet.</p>`
      : history.map(
          (d) => html`<section class="day" aria-labelledby="day-${d.day}">
<h3 id="day-${d.day}">${d.day}</h3>
<table>
<thead><tr><th scope="col">Stage</th><th scope="col">Status</th><th scope="col">Duration</th><th scope="col">Detail</th></tr></thead>
<tbody>${d.stages.map(
            (s) =>
              html`<tr><th scope="row">${s.name}</th><td>${statusBadge(s.status)}</td><td class="num">${fmtDuration(s.durationMs)}</td><td>${s.detail}</td></tr>`,
          )}</tbody>
</table>
</section>`,
        );
  return page({
    title: 'Overview',
    csrf,
    active: 'overview',
    body: html`<section aria-labelledby="alerts-h"><h2 id="alerts-h">Open alerts</h2>${alertList}</section>
<section aria-labelledby="refresh-h"><h2 id="refresh-h">Refresh by day</h2>
<p class="hint">From the store: raw partitions and their compaction manifests, people snapshots, audience manifests, sync run records (the last attempt of each day) and lift reports. The export drains all day long, so its row says what landed and when, not how long it took.</p>
${days}</section>`,
  });
}

export interface AudienceListRow {
  audience: AudienceDefinition;
  destinations: string[];
  latest?: AudienceManifest;
}

export function audiencesPage(csrf: string, rows: AudienceListRow[]): string {
  return page({
    title: 'Audiences',
    csrf,
    active: 'audiences',
    body: html`<table>
<thead><tr><th scope="col">Audience</th><th scope="col">Type</th><th scope="col">Latest day</th><th scope="col">Treatment</th><th scope="col">Holdout</th><th scope="col">Destinations</th><th scope="col">Lift</th></tr></thead>
<tbody>${rows.map(
      (r) => html`<tr>
<th scope="row"><a href="/console/audiences/${enc(r.audience.id)}">${r.audience.id}</a></th>
<td>${r.audience.type}</td><td>${r.latest?.day ?? 'not built'}</td>
<td class="num">${fmtInt(r.latest?.counts.treatment)}</td><td class="num">${fmtInt(r.latest?.counts.holdout)}</td>
<td>${r.destinations.map((d, i) => html`${i > 0 ? ', ' : ''}<a href="/console/audiences/${enc(r.audience.id)}/destinations/${enc(d)}">${d}</a>`)}</td>
<td>${(r.audience.holdout?.fraction ?? 0) > 0 ? html`<a href="/console/audiences/${enc(r.audience.id)}/lift">Lift of ${r.audience.id}</a>` : 'no holdout'}</td>
</tr>`,
    )}</tbody>
</table>`,
  });
}

function manifestSection(m: AudienceManifest | undefined): SafeHtml {
  if (!m) return html`<p>Not built yet.</p>`;
  const excluded = Object.entries(m.counts.excluded);
  return html`<p class="hint">Built ${m.created_at} (run <code>${m.run_id}</code>), window ${m.window.from} to ${m.window.to}.</p>
<dl class="counts">
<div><dt>Matched</dt><dd data-count="matched">${fmtInt(m.counts.matched)}</dd></div>
<div><dt>Eligible</dt><dd data-count="eligible">${fmtInt(m.counts.eligible)}</dd></div>
<div><dt>Selected</dt><dd data-count="selected">${fmtInt(m.counts.selected)}</dd></div>
<div><dt>Treatment</dt><dd data-count="treatment">${fmtInt(m.counts.treatment)}</dd></div>
<div><dt>Holdout</dt><dd data-count="holdout">${fmtInt(m.counts.holdout)}</dd></div>
<div><dt>Removed by exclusions</dt><dd data-count="removed">${fmtInt(m.counts.removed)}</dd></div>
<div><dt>Malformed lines</dt><dd data-count="malformed">${fmtInt(m.malformed_lines)}</dd></div>
</dl>
<h3>Excluded by reason</h3>
${
  excluded.length === 0
    ? html`<p>No exclusions applied.</p>`
    : html`<table><thead><tr><th scope="col">Reason</th><th scope="col">Matched people</th></tr></thead><tbody>${excluded.map(
        ([reason, n]) => html`<tr><th scope="row">${reason}</th><td class="num">${fmtInt(n)}</td></tr>`,
      )}</tbody></table>`
}
${
  m.malformed.length > 0
    ? html`<h3>First malformed lines</h3><table><thead><tr><th scope="col">Object</th><th scope="col">Line</th><th scope="col">Reason</th></tr></thead><tbody>${m.malformed.map(
        (x) =>
          html`<tr><td><code>${x.key}</code></td><td class="num">${x.line}</td><td>${x.reason}</td></tr>`,
      )}</tbody></table>`
    : ''
}`;
}

export function audiencePage(
  csrf: string,
  audience: AudienceDefinition,
  destinations: string[],
  sizes: SizePoint[],
  latest: AudienceManifest | undefined,
): string {
  return page({
    title: `Audience ${audience.id}`,
    csrf,
    active: 'audiences',
    charts: sizes.length > 0,
    body: html`${audience.description ? html`<p>${audience.description}</p>` : ''}
<p>Destinations: ${
      destinations.length === 0
        ? 'none'
        : destinations.map(
            (d, i) =>
              html`${i > 0 ? ', ' : ''}<a href="/console/audiences/${enc(audience.id)}/destinations/${enc(d)}">${d}</a>`,
          )
    }</p>
${(audience.holdout?.fraction ?? 0) > 0 ? html`<p><a href="/console/audiences/${enc(audience.id)}/lift">Lift report</a></p>` : ''}
<section aria-labelledby="sizes-h"><h2 id="sizes-h">Treatment and holdout over time</h2>
${
  sizes.length === 0
    ? html`<p>No built days yet.</p>`
    : html`<div class="chart" id="sizes-chart" hidden><canvas data-chart="sizes" role="img" aria-label="Treatment and holdout size by day for ${audience.id}"></canvas></div>
${jsonBlock('sizes-data', { labels: sizes.map((p) => p.day), treatment: sizes.map((p) => p.treatment), holdout: sizes.map((p) => p.holdout) })}
<details class="chart-numbers" open><summary>Sizes by day, as a table</summary>
<table><thead><tr><th scope="col">Day</th><th scope="col">Eligible</th><th scope="col">Treatment</th><th scope="col">Holdout</th></tr></thead>
<tbody>${sizes.map((p) => html`<tr><th scope="row">${p.day}</th><td class="num">${fmtInt(p.eligible)}</td><td class="num">${fmtInt(p.treatment)}</td><td class="num">${fmtInt(p.holdout)}</td></tr>`)}</tbody></table>
</details>`
}
</section>
<section aria-labelledby="manifest-h"><h2 id="manifest-h">Last manifest${latest ? html` (${latest.day})` : ''}</h2>${manifestSection(latest)}</section>
<section aria-labelledby="definition-h"><h2 id="definition-h">Definition</h2>
<p class="hint">As loaded from the configuration (event names normalized).</p>
<pre class="definition">${stringify(audience)}</pre></section>`,
  });
}

function runRow(r: SyncRunRecord): SafeHtml {
  const rejected = Object.values(r.rejected_by_code ?? {}).reduce((a, b) => a + b, 0);
  const resumed = r.resumed?.reduce((a, x) => a + x.possibly_repeated_batches, 0) ?? 0;
  return html`<tr>
<th scope="row"><code>${r.run_id}</code></th><td>${r.day}</td><td>${statusBadge(r.status)}</td>
<td class="num">${fmtInt(r.plan.add)}</td><td class="num">${fmtInt(r.plan.remove)}</td>
<td class="num">${fmtInt(r.requests)}</td><td class="num">${fmtInt(rejected)}</td>
<td class="num">${r.resumed?.length ? `${r.resumed.length} (${resumed} batch${resumed === 1 ? '' : 'es'} resent)` : '0'}</td>
<td class="num">${r.match_rate === null || r.match_rate === undefined ? '—' : fmtPercent(r.match_rate)}</td>
<td class="num">${fmtDuration(r.timings_ms?.total)}</td>
<td>${r.error ? html`<span class="error-kind">${r.error.kind}${r.error.code !== undefined ? ` ${r.error.code}` : ''}</span>` : ''}</td>
</tr>`;
}

function rejectedSection(runs: SyncRunRecord[]): SafeHtml {
  const withRejections = runs.filter((r) => Object.keys(r.rejected_by_code ?? {}).length > 0).slice(0, 5);
  if (withRejections.length === 0) return html`<p>No rows were rejected in these runs.</p>`;
  return html`${withRejections.map(
    (r) => html`<h3>Run <code>${r.run_id}</code></h3>
<table><thead><tr><th scope="col">Platform code</th><th scope="col">Rows</th></tr></thead><tbody>${Object.entries(
      r.rejected_by_code,
    ).map(
      ([code, n]) =>
        html`<tr><th scope="row"><code>${code}</code></th><td class="num">${fmtInt(n)}</td></tr>`,
    )}</tbody></table>
${
  r.rejected_sample.length > 0
    ? html`<details><summary>First rejected rows (${r.rejected_sample.length})</summary>
<table><thead><tr><th scope="col">Customer id</th><th scope="col">Operation</th><th scope="col">Code</th><th scope="col">Reason</th></tr></thead><tbody>${r.rejected_sample
        .slice(0, 50)
        .map(
          (s) =>
            html`<tr><td><code>${s.customer_id}</code></td><td>${s.op}</td><td>${s.code ?? ''}</td><td>${s.reason ?? ''}</td></tr>`,
        )}</tbody></table></details>`
    : ''
}`,
  )}`;
}

export interface TargetPageInput {
  csrf: string;
  audience: AudienceDefinition;
  destination: string;
  runs: SyncRunRecord[];
  plan?: PlanPreview;
  planError?: string;
  canEnqueue: boolean;
  notice?: string;
  /** The latest run, when a guard stopped it. */
  blocked?: SyncRunRecord;
}

function guardedSection(p: TargetPageInput, base: string): SafeHtml {
  const r = p.blocked;
  if (!r) return html``;
  return html`<section aria-labelledby="guard-h" class="guarded"><h2 id="guard-h">Confirm a guarded sync</h2>
<p>The latest run, <code>${r.run_id}</code> (${r.day}), was stopped before sending anything:</p>
<ul class="guards">${r.guards.map((g) => html`<li><strong>${g.code}</strong>: ${g.message}</li>`)}</ul>
<dl class="counts">
<div><dt>Would add</dt><dd data-count="blocked-add">${fmtInt(r.plan.add)}</dd></div>
<div><dt>Would remove</dt><dd data-count="blocked-remove">${fmtInt(r.plan.remove)}</dd></div>
<div><dt>Size before</dt><dd data-count="blocked-before">${fmtInt(r.plan.ledger)}</dd></div>
<div><dt>Size after</dt><dd data-count="blocked-after">${fmtInt(r.plan.after)}</dd></div>
</dl>
<p class="hint">Usually an upstream data problem: check the open alerts (volume, freshness) first. Confirming queues this destination's sync of ${r.day} with the guard lifted (like <code>audience-sync sync --confirm</code>): it plans again and applies that plan, removals included. Nothing else is rebuilt or synced.</p>
${
  p.canEnqueue
    ? html`<form method="post" action="${base}/confirm" class="card">
<input type="hidden" name="_csrf" value="${p.csrf}">
<input type="hidden" name="run_id" value="${r.run_id}">
<p><input type="checkbox" id="confirm_guard" name="confirm_guard" value="yes" required> <label for="confirm_guard">The change is real: apply the plan the guard stopped for ${p.audience.id} → ${p.destination}</label></p>
<button type="submit">Confirm and sync</button>
</form>`
    : html`<p>Confirming from the console needs the queue (Redis); this server has none configured. From a shell: <code>audience-sync sync --audience ${p.audience.id} --destination ${p.destination} --confirm</code>.</p>`
}
</section>`;
}

interface MatchSeries {
  /** Identifier types some run carried, in the contract's order. */
  types: IdentifierType[];
  /** Completed runs that sent members, oldest first. */
  points: {
    run: string;
    day: string;
    desired: number;
    share: Partial<Record<IdentifierType, number>>;
    rate: number | null;
  }[];
}

/**
 * Per run: the share of the people we sent that carried each identifier type, and the match rate the
 * platform reported for the whole audience. Platforms do not report a match rate per type, so the
 * share per type is the most the platform can match through that type.
 */
function matchSeries(runs: SyncRunRecord[]): MatchSeries {
  const points = [...runs]
    .reverse()
    .filter((r) => r.status === 'completed' && (r.members?.desired ?? 0) > 0)
    .map((r) => ({
      run: r.run_id,
      day: r.day,
      desired: r.members.desired,
      share: Object.fromEntries(
        Object.entries(r.members.coverage ?? {}).map(([type, n]) => [type, (n ?? 0) / r.members.desired]),
      ) as Partial<Record<IdentifierType, number>>,
      rate: typeof r.match_rate === 'number' ? r.match_rate : null,
    }));
  const types = IDENTIFIER_TYPES.filter((t) => points.some((x) => x.share[t] !== undefined));
  return { types, points };
}

const percentOf = (x: number | null | undefined) =>
  x === null || x === undefined ? null : Math.round(x * 10000) / 100;

function matchSection(m: MatchSeries): SafeHtml {
  if (m.points.length === 0) return html`<p>No completed run has sent members yet.</p>`;
  return html`<p class="hint">Platforms report one match rate for the whole audience (Meta: matched of received; Google: the list's match rate); TikTok reports none. Per identifier type, the share of the people we sent who carry that type's key: the most the platform can match through it.</p>
<div class="chart" id="match-chart" hidden><canvas data-chart="match" role="img" aria-label="Identifier coverage per type and platform match rate by run"></canvas></div>
${jsonBlock('match-data', {
  labels: m.points.map((x) => x.run),
  rate: m.points.map((x) => percentOf(x.rate)),
  types: Object.fromEntries(m.types.map((t) => [t, m.points.map((x) => percentOf(x.share[t]))])),
})}
<details class="chart-numbers" open><summary>Match rate and identifier coverage by run, as a table</summary>
<table class="match"><thead><tr><th scope="col">Run</th><th scope="col">Day</th><th scope="col">People sent</th>${m.types.map(
    (t) => html`<th scope="col">With ${t}</th>`,
  )}<th scope="col">Platform match rate</th></tr></thead>
<tbody>${m.points.map(
    (x) =>
      html`<tr><th scope="row"><code>${x.run}</code></th><td>${x.day}</td><td class="num">${fmtInt(x.desired)}</td>${m.types.map(
        (t) =>
          html`<td class="num" data-coverage="${t}">${x.share[t] === undefined ? '—' : fmtPercent(x.share[t]!)}</td>`,
      )}<td class="num">${x.rate === null ? '—' : fmtPercent(x.rate)}</td></tr>`,
  )}</tbody></table>
</details>`;
}

export function targetPage(p: TargetPageInput): string {
  const base = `/console/audiences/${enc(p.audience.id)}/destinations/${enc(p.destination)}`;
  const match = matchSeries(p.runs);
  const plan = p.plan;
  return page({
    title: `${p.audience.id} → ${p.destination}`,
    csrf: p.csrf,
    active: 'audiences',
    charts: match.points.length > 0,
    body: html`<p><a href="/console/audiences/${enc(p.audience.id)}">Back to ${p.audience.id}</a></p>
${p.notice ? html`<p class="notice" role="status">${p.notice}</p>` : ''}
${guardedSection(p, base)}
<section aria-labelledby="plan-h"><h2 id="plan-h">Next sync (plan preview)</h2>
${
  plan
    ? html`<p class="hint">For the audience built on ${plan.day}, computed like the sync computes it; nothing is sent.</p>
<dl class="counts">
<div><dt>Add</dt><dd data-count="plan-add">${fmtInt(plan.counts.add)}</dd></div>
<div><dt>Remove</dt><dd data-count="plan-remove">${fmtInt(plan.counts.remove)}</dd></div>
<div><dt>Unchanged</dt><dd data-count="plan-unchanged">${fmtInt(plan.counts.unchanged)}</dd></div>
<div><dt>Size after</dt><dd data-count="plan-after">${fmtInt(plan.counts.after)}</dd></div>
<div><dt>Requests</dt><dd data-count="plan-requests">${fmtInt(plan.requests)}</dd></div>
</dl>
${
  plan.guards.length > 0
    ? html`<ul class="guards">${plan.guards.map((g) => html`<li><strong>${g.code}</strong>: ${g.message}</li>`)}</ul>`
    : html`<p class="ok">No guard would stop this sync.</p>`
}`
    : html`<p>${p.planError ?? 'No plan: the audience has not been built yet.'}</p>`
}
</section>
<section aria-labelledby="sync-h"><h2 id="sync-h">Sync now</h2>
${
  p.canEnqueue
    ? html`<p>Queues a refresh of <strong>${p.audience.id}</strong> for the last complete day: its build, then a sync to each of its destinations, then measurement (the same run as <code>POST /v1/runs</code> with this audience).</p>
<form method="post" action="${base}/sync" class="card">
<input type="hidden" name="_csrf" value="${p.csrf}">
<p><input type="checkbox" id="confirm" name="confirm" value="yes" required> <label for="confirm">I want to sync ${p.audience.id} now</label></p>
<button type="submit">Sync now</button>
</form>`
    : html`<p>Syncing from the console needs the queue (Redis); this server has none configured.</p>`
}
</section>
<section aria-labelledby="runs-h"><h2 id="runs-h">Sync runs</h2>
${
  p.runs.length === 0
    ? html`<p>No sync run yet.</p>`
    : html`<table class="runs"><thead><tr><th scope="col">Run</th><th scope="col">Day</th><th scope="col">Status</th><th scope="col">Adds</th><th scope="col">Removes</th><th scope="col">Requests</th><th scope="col">Rejected</th><th scope="col">Resumed</th><th scope="col">Match rate</th><th scope="col">Duration</th><th scope="col">Error</th></tr></thead>
<tbody>${p.runs.map(runRow)}</tbody></table>`
}
</section>
<section aria-labelledby="match-h"><h2 id="match-h">Match rate per identifier type</h2>${matchSection(match)}</section>
<section aria-labelledby="rejected-h"><h2 id="rejected-h">Rejected rows</h2>${rejectedSection(p.runs)}</section>`,
  });
}

export function syncQueuedPage(
  csrf: string,
  audienceId: string,
  destination: string,
  result: { runId: string; created: boolean; day: string },
): string {
  const back = `/console/audiences/${enc(audienceId)}/destinations/${enc(destination)}`;
  return page({
    title: 'Sync queued',
    csrf,
    active: 'audiences',
    body: html`<p class="notice" role="status">${
      result.created
        ? `Queued run ${result.runId} for ${result.day}.`
        : `Run ${result.runId} for ${result.day} was already queued; nothing was added.`
    }</p>
<p>Follow it in <a href="/admin/queues">the queue dashboard</a> or with <code>GET /v1/runs/${result.runId}</code>. Its sync run record appears on <a href="${back}">the destination page</a> when the sync starts.</p>`,
  });
}

export function confirmQueuedPage(
  csrf: string,
  audienceId: string,
  destination: string,
  result: { jobId: string; created: boolean; blocked: string; day: string },
): string {
  const back = `/console/audiences/${enc(audienceId)}/destinations/${enc(destination)}`;
  return page({
    title: 'Confirmed sync queued',
    csrf,
    active: 'audiences',
    body: html`<p class="notice" role="status">${
      result.created
        ? `Queued sync job ${result.jobId}: ${audienceId} → ${destination} for ${result.day}, with the guard lifted.`
        : `Sync job ${result.jobId} for the guarded run ${result.blocked} was already queued; nothing was added.`
    }</p>
<p>Follow it in <a href="/admin/queues">the queue dashboard</a> (queue <code>sync-${destination}</code>). Its run record appears on <a href="${back}">the destination page</a> as a new attempt of ${result.day} when the sync starts.</p>`,
  });
}

export interface PeoplePageInput {
  csrf: string;
  customerId?: string;
  memberships?: Membership[];
  explanation?: Explanation;
  /** Why there is no explanation (not found, or it could not be computed). */
  explainNote?: string;
}

function verdictOf(a: Explanation['audiences'][number]): string {
  if (a.member) return `selected (rank ${a.member.rank} of ${a.selection.selected}, ${a.member.group})`;
  if (!a.in_universe) return 'not selected: outside the universe (not in the snapshot, no own records)';
  if (!a.matched) return 'not selected: the condition does not hold';
  if (!a.eligible) {
    const why = [...(a.never_send ? ['never_send'] : []), ...a.excluded_by.map((x) => `audience ${x}`)];
    return `not selected: removed by ${why.join(', ')}`;
  }
  return 'not selected: below the cut';
}

/** Person lookup: stored membership per audience, and the engine's explanation of why. */
export function peoplePage(p: PeoplePageInput): string {
  const e = p.explanation;
  const verdicts = new Map((e?.audiences ?? []).map((a) => [a.id, verdictOf(a)]));
  return page({
    title: 'Person lookup',
    csrf: p.csrf,
    active: 'people',
    body: html`<form method="get" action="/console/people" class="card lookup" role="search">
<label for="customer_id">Customer id</label>
<input id="customer_id" name="customer_id" required maxlength="256" autocomplete="off" spellcheck="false" value="${p.customerId ?? ''}">
<p class="hint">The id the sender uses as <code>customer_id</code> (or an alias merged into one). This page shows audience facts about the id, never an email, phone number or name.</p>
<button type="submit">Look up</button>
</form>
${
  p.customerId === undefined || !p.memberships
    ? ''
    : html`<section aria-labelledby="member-h"><h2 id="member-h">Audiences of <code>${p.customerId}</code></h2>
<p class="hint">Membership is read from each audience's latest built members; the explanation column is recomputed by the engine (as <code>audience-sync explain</code> does)${e ? html` for ${e.day}` : ''}.</p>
<table class="memberships"><thead><tr><th scope="col">Audience</th><th scope="col">Latest built day</th><th scope="col">Member</th><th scope="col">Group</th><th scope="col">Rank</th><th scope="col">Score</th><th scope="col">Entered</th><th scope="col">Explanation</th></tr></thead>
<tbody>${p.memberships.map(
        (m) => html`<tr data-audience="${m.audienceId}">
<th scope="row"><a href="/console/audiences/${enc(m.audienceId)}">${m.audienceId}</a></th>
<td>${m.day ?? 'not built'}</td><td>${m.member ? 'yes' : 'no'}</td>
<td>${m.member?.group ?? ''}</td><td class="num">${m.member ? fmtInt(m.member.rank) : ''}</td>
<td class="num">${m.member ? String(m.member.score) : ''}</td><td>${m.member?.entered ?? ''}</td>
<td>${verdicts.get(m.audienceId) ?? '—'}</td>
</tr>`,
      )}</tbody></table>
${p.explainNote ? html`<p class="notice" role="status">${p.explainNote}</p>` : ''}
</section>
${
  e
    ? html`<section aria-labelledby="why-h"><h2 id="why-h">Why (explanation for ${e.day})</h2>
<p class="hint">Each condition with ✓ (holds) or ✗, record counts in their windows, score terms and the cut. Personal fields show only present or missing.</p>
<pre class="explanation">${formatExplanation(e).join('\n')}</pre></section>`
    : ''
}`
}`,
  });
}

/** The top reason codes of a profile, most frequent first. */
function topReasons(reasons: Record<string, number>, n = 5): [string, number][] {
  return Object.entries(reasons)
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n);
}

/** Data health: freshness, volume per day and quarantine reasons per dataset; counts and codes only. */
export function healthPage(csrf: string, datasets: DatasetHealth[], alerts: AlertRecord[]): string {
  const dataAlerts = alerts.filter((a) => a.subject.dataset !== undefined);
  return page({
    title: 'Data health',
    csrf,
    active: 'health',
    body: html`<p class="hint">From the health checks' day profiles (<code>health/profiles/</code>, updated by every health run) and the names of the newest raw parts. Counts and reason codes only: no quarantined record is shown.</p>
<section aria-labelledby="data-alerts-h"><h2 id="data-alerts-h">Data alerts</h2>
${
  dataAlerts.length === 0
    ? html`<p class="ok">No data alert is firing.</p>`
    : html`<ul class="alerts">${dataAlerts.map(
        (a) =>
          html`<li class="alert alert-${a.severity}"><p><strong>${a.severity}</strong> <code>${a.id}</code> since ${a.fired_at}</p><p>${a.message}</p><p class="todo">What to do: ${ALERT_ACTIONS[a.kind] ?? 'see docs/operations.md'}</p></li>`,
      )}</ul>`
}
</section>
${datasets.map((d) => {
  const f = d.freshness;
  const freshness =
    f.ageMs === undefined
      ? html`no raw part in the last 14 days of partitions`
      : html`newest part arrived <time datetime="${new Date(f.newestAtMs!).toISOString()}">${new Date(f.newestAtMs!).toISOString()}</time>, <span data-age="${d.dataset}">${duration(f.ageMs)}</span> ago`;
  return html`<section aria-labelledby="ds-${d.dataset}-h"><h2 id="ds-${d.dataset}-h">${d.dataset}</h2>
<p>Freshness: ${statusBadge(f.limitMinutes === null ? 'unchecked' : f.late ? 'late' : 'fresh')} ${freshness}${
    f.limitMinutes === null ? ' (not checked)' : html` (limit ${duration(f.limitMinutes * 60_000)})`
  }.</p>
${
  d.days.length === 0
    ? html`<p>No day profile yet: the health check has not profiled this dataset.</p>`
    : html`<table class="health" data-dataset="${d.dataset}"><thead><tr><th scope="col">Day</th><th scope="col">Records</th><th scope="col">Unreadable</th><th scope="col">Quarantined</th><th scope="col">Rejected</th><th scope="col">Quarantine rate</th><th scope="col">Top reasons</th><th scope="col">Profiled</th></tr></thead>
<tbody>${d.days.map(
        (
          p,
        ) => html`<tr data-day="${p.day}"><th scope="row">${p.day}</th><td class="num">${fmtInt(p.records)}</td><td class="num">${fmtInt(p.unreadable)}</td><td class="num">${fmtInt(p.quarantined)}</td><td class="num">${fmtInt(p.rejected)}</td><td class="num">${fmtPercent(quarantineRate(p))}</td>
<td>${
          Object.keys(p.reasons).length === 0
            ? '—'
            : html`<ul class="reasons">${topReasons(p.reasons).map(([code, n]) => html`<li><code>${code}</code> ${fmtInt(n)}</li>`)}</ul>`
        }</td><td>${p.updated_at}</td></tr>`,
      )}</tbody></table>`
}
</section>`;
})}`,
  });
}

/** The lift report of an audience with a holdout: headline and groups, and the report embedded. */
export function liftPage(
  csrf: string,
  audience: AudienceDefinition,
  found: { day: string; report: LiftReport } | undefined,
): string {
  const id = audience.id;
  const holdout = (audience.holdout?.fraction ?? 0) > 0;
  const r = found?.report;
  const src = found ? `/console/audiences/${enc(id)}/lift/report.html?day=${enc(found.day)}` : '';
  return page({
    title: `Lift of ${id}`,
    csrf,
    active: 'audiences',
    body: html`<p><a href="/console/audiences/${enc(id)}">Back to ${id}</a></p>
${
  !holdout
    ? html`<p>This audience has no holdout, so there is no lift to measure. Add <code>holdout: { fraction: … }</code> to its definition.</p>`
    : !found || !r
      ? html`<p>No lift report yet: the measure stage writes one after each refresh (<code>reports/lift/${id}/</code>).</p>`
      : html`<section aria-labelledby="lift-summary-h"><h2 id="lift-summary-h">As of ${found.day}</h2>
<p class="headline">${r.headline}</p>
${r.warnings.length > 0 ? html`<ul class="guards">${r.warnings.map((w) => html`<li>${w}</li>`)}</ul>` : ''}
<table><thead><tr><th scope="col">Group</th><th scope="col">People (matured)</th><th scope="col">Converters</th><th scope="col">Rate</th><th scope="col">Pending</th></tr></thead>
<tbody>
<tr><th scope="row">treatment</th><td class="num" data-count="lift-treatment">${fmtInt(r.groups.treatment.people)}</td><td class="num">${fmtInt(r.groups.treatment.converters)}</td><td class="num">${fmtPercent(r.groups.treatment.rate, 2)}</td><td class="num" data-count="pending-treatment">${fmtInt(r.pending.treatment)}</td></tr>
<tr><th scope="row">holdout</th><td class="num" data-count="lift-holdout">${fmtInt(r.groups.holdout.people)}</td><td class="num">${fmtInt(r.groups.holdout.converters)}</td><td class="num">${fmtPercent(r.groups.holdout.rate, 2)}</td><td class="num" data-count="pending-holdout">${fmtInt(r.pending.holdout)}</td></tr>
</tbody></table>
<p class="hint">Entry days ${r.period.from} to ${r.period.to}, outcome <code>${r.event}</code> within ${r.window_days} days; generated ${r.generated_at}. The full report follows (the same page as <code>GET /v1/audiences/${id}/lift</code> with <code>Accept: text/html</code>).</p>
</section>
<section aria-labelledby="lift-report-h"><h2 id="lift-report-h">Report</h2>
<iframe class="lift-report" src="${src}" title="Lift report of ${id} as of ${found.day}"></iframe>
<p><a href="${src}">Open the report on its own</a></p>
</section>`
}`,
  });
}
