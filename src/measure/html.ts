import { cumulativeLiftChart, escapeHtml, type LiftPoint, rateChart } from './charts.js';
import { count, money, percent, points, pValue, signedCount, signedPercent } from './format.js';
import type { LiftReport } from './report.js';

/**
 * The lift report as one self-contained HTML page: inline CSS and inline SVG, no script, no
 * external resource of any kind, so it renders offline and can be archived as a single file.
 */

const CSS = `
:root { color-scheme: light; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; background: #f6f8fa; color: #1f2328; }
main { max-width: 760px; margin: 0 auto; padding: 24px 20px 48px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
.meta { color: #57606a; margin: 0 0 16px; }
.headline { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 14px 16px; font-size: 16px; }
.warning { background: #fff8c5; border: 1px solid #d4a72c; border-radius: 8px; padding: 10px 14px; margin: 10px 0; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 10px; margin: 14px 0; }
.card { background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 10px 12px; }
.card .k { color: #57606a; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
.card .v { font-size: 20px; font-weight: 600; }
.card .s { color: #57606a; font-size: 13px; }
table { border-collapse: collapse; width: 100%; background: #fff; }
th, td { border: 1px solid #d0d7de; padding: 6px 8px; text-align: right; }
th:first-child, td:first-child, table.checks td { text-align: left; }
.chart { width: 100%; height: auto; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; }
.chart text { font: 12px system-ui, sans-serif; fill: #1f2328; }
.chart .tick, .chart .axis { fill: #57606a; }
.chart .label { font-weight: 600; }
details { margin-top: 24px; }
pre { white-space: pre-wrap; word-break: break-word; background: #fff; border: 1px solid #d0d7de; padding: 8px; }
`;

const TREATMENT_COLOR = '#0b5cd5';
const HOLDOUT_COLOR = '#8c959f';

function card(key: string, value: string, sub: string): string {
  return `<div class="card"><div class="k">${escapeHtml(key)}</div><div class="v">${escapeHtml(value)}</div><div class="s">${escapeHtml(sub)}</div></div>`;
}

function interval(low: number | null, high: number | null, f: (x: number | null) => string): string {
  return low === null || high === null ? 'no interval' : `95% interval ${f(low)} to ${f(high)}`;
}

export function renderLiftHtml(r: LiftReport): string {
  const t = r.groups.treatment;
  const h = r.groups.holdout;
  const bars = [
    { label: 'treatment', g: t, color: TREATMENT_COLOR },
    { label: 'holdout', g: h, color: HOLDOUT_COLOR },
  ]
    .filter(({ g }) => g.rate !== null)
    .map(({ label, g, color }) => ({
      label,
      rate: g.rate ?? 0,
      low: g.rate_ci_low ?? 0,
      high: g.rate_ci_high ?? 0,
      color,
    }));
  const cumulative: LiftPoint[] = r.by_entry_day.flatMap((d) => {
    const l = d.cumulative_absolute_lift;
    return l.estimate === null || l.ci_low === null || l.ci_high === null
      ? []
      : [{ day: d.entered, estimate: l.estimate, low: l.ci_low, high: l.ci_high }];
  });
  const rpp = r.revenue_per_person_difference;
  const title = `Lift report: ${r.audience}`;
  const html = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)} as of ${escapeHtml(r.as_of)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body><main>',
    `<h1>${escapeHtml(title)}</h1>`,
    `<p class="meta">People who entered between ${escapeHtml(r.period.from)} and ${escapeHtml(r.period.to)}; outcome: <code>${escapeHtml(r.event)}</code> within ${r.window_days} days after the entry day; data as of the end of ${escapeHtml(r.as_of)} (UTC).</p>`,
    `<p class="headline" id="headline">${escapeHtml(r.headline)}</p>`,
    ...r.warnings.map((w) => `<p class="warning">${escapeHtml(w)}</p>`),
    '<div class="cards">',
    card(
      'absolute lift',
      points(r.absolute_lift.estimate),
      interval(r.absolute_lift.ci_low, r.absolute_lift.ci_high, points),
    ),
    card(
      'relative lift',
      signedPercent(r.relative_lift.estimate),
      interval(r.relative_lift.ci_low, r.relative_lift.ci_high, signedPercent),
    ),
    card('p-value', pValue(r.p_value).replace('p = ', ''), 'two-sided, pooled z-test'),
    card(
      'incremental conversions',
      signedCount(r.incremental_conversions.estimate),
      interval(r.incremental_conversions.ci_low, r.incremental_conversions.ci_high, (x) => signedCount(x)),
    ),
    card(
      'incremental revenue',
      signedCount(r.incremental_revenue.estimate, 2),
      interval(r.incremental_revenue.ci_low, r.incremental_revenue.ci_high, (x) => signedCount(x, 2)),
    ),
    card('detectable effect', points(r.mde).replace('+', ''), 'MDE at α 0.05, power 0.8'),
    '</div>',
    '<h2>Conversion rate by group</h2>',
    rateChart(bars, `Conversion rate by group with 95% intervals, ${r.audience}`),
    '<h2>Cumulative lift by entry day</h2>',
    cumulativeLiftChart(cumulative, `Cumulative absolute lift by entry day, ${r.audience}`),
    '<h2>Groups</h2>',
    '<table><thead><tr><th>group</th><th>people</th><th>converters</th><th>rate</th><th>95% interval</th><th>revenue</th><th>revenue / person</th></tr></thead><tbody>',
    ...(
      [
        ['treatment', t],
        ['holdout', h],
      ] as const
    ).map(
      ([name, g]) =>
        `<tr><td>${name}</td><td>${count(g.people)}</td><td>${count(g.converters)}</td><td>${percent(g.rate, 2)}</td><td>${percent(g.rate_ci_low, 2)} – ${percent(g.rate_ci_high, 2)}</td><td>${money(g.revenue)}</td><td>${money(g.revenue_per_person)}</td></tr>`,
    ),
    '</tbody></table>',
    `<p class="meta">Revenue per person difference: ${escapeHtml(rpp ? `${signedCount(rpp.estimate, 2)} (${interval(rpp.ci_low, rpp.ci_high, (x) => signedCount(x, 2))}, Welch ${pValue(rpp.p_value)})` : 'not enough people')}.</p>`,
    '<h2>Integrity checks</h2>',
    '<table class="checks"><tbody>',
    `<tr><td>sample ratio</td><td>${escapeHtml(`holdout ${percent(r.srm.observed_share, 2)} observed vs ${percent(r.srm.expected_share, 2)} configured, ${pValue(r.srm.p_value)}`)}</td><td>${r.srm.flagged ? 'FLAGGED' : 'ok'}</td></tr>`,
    `<tr><td>contamination</td><td>${escapeHtml(`${count(r.contamination.contaminated_people)} of ${count(r.contamination.holdout_people)} holdout people in ledgers of ${r.contamination.destinations_checked.length} destination(s)`)}</td><td>${r.contamination.flagged ? 'FLAGGED' : 'ok'}</td></tr>`,
    `<tr><td>holdout salt</td><td>${escapeHtml(r.salt.changed || r.salt.assignment_mismatches > 0 ? 'changed or differs from the configuration' : 'unchanged in the period')}</td><td>${r.salt.changed || r.salt.assignment_mismatches > 0 ? 'NOTE' : 'ok'}</td></tr>`,
    `<tr><td>pending</td><td>${escapeHtml(`${count(r.pending.people)} people still inside their outcome window (not counted)`)}</td><td>${r.pending.people > 0 ? 'pending' : 'none'}</td></tr>`,
    '</tbody></table>',
    '<details><summary>Report JSON</summary>',
    `<pre>${escapeHtml(JSON.stringify(r, null, 2))}</pre>`,
    '</details>',
    `<p class="meta">Generated ${escapeHtml(r.generated_at)} by audience-sync. Method: docs/lift.md.</p>`,
    '</main></body></html>',
  ];
  return `${html.join('\n')}\n`;
}
