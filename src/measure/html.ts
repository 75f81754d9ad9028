import {
  chartDataJson,
  chartJsSource,
  DRAW_CHARTS_SCRIPT,
  type LiftChartData,
  liftChartData,
  scriptHashSource,
} from './charts.js';
import { count, money, percent, points, pValue, signedCount, signedPercent } from './format.js';
import type { LiftReport } from './report.js';

/**
 * The lift report as one self-contained HTML page: inline CSS, the charts drawn by Chart.js
 * inlined from the installed package, the chart data as an inline JSON block, and no external
 * resource of any kind, so it renders offline and can be archived as a single file. Its own
 * Content-Security-Policy allows only those two inline scripts (by hash) and no network at all.
 * With scripts off the charts stay hidden and the tables carry the same numbers.
 */

function escapeHtml(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

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
.chart { position: relative; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 8px; }
[hidden] { display: none !important; }
.chart.rates { height: 200px; }
.chart.cumulative { height: 320px; }
details.chart-numbers { margin-top: 8px; }
table.by-day { font-size: 13px; }
table.by-day td { white-space: nowrap; }
details { margin-top: 24px; }
pre { white-space: pre-wrap; word-break: break-word; background: #fff; border: 1px solid #d0d7de; padding: 8px; }
`;

function card(key: string, value: string, sub: string): string {
  return `<div class="card"><div class="k">${escapeHtml(key)}</div><div class="v">${escapeHtml(value)}</div><div class="s">${escapeHtml(sub)}</div></div>`;
}

function interval(low: number | null, high: number | null, f: (x: number | null) => string): string {
  return low === null || high === null ? 'no interval' : `95% interval ${f(low)} to ${f(high)}`;
}

interface InlineScript {
  text: string;
  hash: string;
}

let scripts: InlineScript[] | undefined;

/** Chart.js, then the drawing script; hashed once per process for the page's CSP. */
function inlineScripts(): InlineScript[] {
  scripts ??= [chartJsSource(), DRAW_CHARTS_SCRIPT].map((text) => ({ text, hash: scriptHashSource(text) }));
  return scripts;
}

/**
 * Nothing may load or connect: only the two inline scripts run and only inline styles apply, so
 * the page is provably offline, and data that slipped past escaping still could not run.
 */
function contentSecurityPolicy(hashes: string[]): string {
  return [
    "default-src 'none'",
    `script-src ${hashes.join(' ')}`,
    "style-src 'unsafe-inline'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
}

function chartSections(r: LiftReport, data: LiftChartData): string[] {
  // With scripts off the whole section stays hidden: the Groups table has the same numbers.
  const rates =
    data.rates.length === 0
      ? []
      : [
          '<section id="rates-chart" hidden>',
          '<h2>Conversion rate by group</h2>',
          `<div class="chart rates"><canvas data-chart="rates" role="img" aria-label="${escapeHtml(`Conversion rate by group with 95% intervals, ${r.audience}`)}">Conversion rate by group with 95% intervals: see the Groups table.</canvas></div>`,
          '</section>',
        ];
  const cumulative =
    data.cumulative.length === 0
      ? ['<p class="meta">No matured entry days yet.</p>']
      : [
          `<div class="chart cumulative" id="cumulative-chart" hidden><canvas data-chart="cumulative" role="img" aria-label="${escapeHtml(`Cumulative absolute lift by entry day with 95% band, ${r.audience}`)}">Cumulative lift by entry day: see the table below.</canvas></div>`,
          // Open unless the chart script draws the chart and closes it: with scripts off, these
          // are the numbers the chart would show.
          '<details class="chart-numbers" open><summary>Cumulative lift by entry day, as a table</summary>',
          '<table class="by-day"><thead><tr><th>entered up to</th><th>treatment people</th><th>converters</th><th>holdout people</th><th>converters</th><th>cumulative lift</th><th>95% interval</th><th>always-valid 95%</th></tr></thead><tbody>',
          ...r.by_entry_day.map((d) => {
            const l = d.cumulative_absolute_lift;
            return `<tr><td>${escapeHtml(d.entered)}</td><td>${count(d.treatment.people)}</td><td>${count(d.treatment.converters)}</td><td>${count(d.holdout.people)}</td><td>${count(d.holdout.converters)}</td><td>${points(l.estimate, 2)}</td><td>${points(l.ci_low, 2)} to ${points(l.ci_high, 2)}</td><td>${d.cumulative_always_valid ? `${points(d.cumulative_always_valid.ci_low, 2)} to ${points(d.cumulative_always_valid.ci_high, 2)}` : 'n/a'}</td></tr>`;
          }),
          '</tbody></table></details>',
        ];
  return [
    '<noscript><p class="meta">The charts need JavaScript; the tables show the same numbers.</p></noscript>',
    ...rates,
    '<h2>Cumulative lift by entry day</h2>',
    ...cumulative,
  ];
}

export function renderLiftHtml(r: LiftReport): string {
  const t = r.groups.treatment;
  const h = r.groups.holdout;
  const data = liftChartData(r);
  const page = inlineScripts();
  const rpp = r.revenue_per_person_difference;
  const title = `Lift report: ${r.audience}`;
  const html = [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(page.map((p) => p.hash)))}">`,
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
    ...(r.adjusted
      ? [
          card(
            'adjusted lift',
            points(r.adjusted.absolute_lift.estimate),
            `${interval(r.adjusted.absolute_lift.ci_low, r.adjusted.absolute_lift.ci_high, points)}; variance ${r.adjusted.reduces_variance ? 'reduced' : 'NOT reduced'} ${signedPercent(r.adjusted.variance_reduction).replace('+', '')}`,
          ),
        ]
      : []),
    ...(r.always_valid
      ? [
          card(
            'always-valid interval',
            `${points(r.always_valid.absolute_lift.ci_low)} to ${points(r.always_valid.absolute_lift.ci_high)}`,
            `${r.always_valid.based_on} lift, valid under daily looks; ${r.always_valid.excludes_zero ? 'excludes zero' : 'no decision yet'}`,
          ),
        ]
      : []),
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
    ...chartSections(r, data),
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
    '</main>',
    `<script type="application/json" id="lift-chart-data">${chartDataJson(data)}</script>`,
    ...page.map((p) => `<script>${p.text}</script>`),
    '</body></html>',
  ];
  return `${html.join('\n')}\n`;
}
