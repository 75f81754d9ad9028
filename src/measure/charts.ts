import { hash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { percent, points } from './format.js';
import type { LiftReport } from './report.js';

/**
 * The lift page's charts: what they show (plain data computed here, on the server), the Chart.js
 * browser build that draws them, and the small script that hands one to the other. Everything is
 * inlined into the page, so it draws offline from the single file.
 */

export type ChartGroup = 'treatment' | 'holdout';

export interface RatePoint {
  group: ChartGroup;
  /** Conversion rate and its 95% Wilson interval, in percent (the unit the axis shows). */
  rate: number;
  low: number;
  high: number;
  /** Text drawn next to the whisker and in the tooltip. */
  label: string;
}

export interface CumulativePoint {
  /** Entry day; the value covers everyone who entered up to and including it. */
  day: string;
  /** Cumulative absolute lift and its 95% interval, in percentage points. */
  estimate: number;
  low: number;
  high: number;
  label: string;
  /** The always-valid 95% interval of the same cumulative lift (percentage points), if known. */
  avLow: number | null;
  avHigh: number | null;
}

export interface LiftChartData {
  rates: RatePoint[];
  cumulative: CumulativePoint[];
}

/** Four decimals of a percent are far below what a chart can show, and keep the page stable. */
const round = (x: number) => Math.round(x * 1e6) / 1e4;

const range = (low: number, high: number, f: (x: number) => string) => `95% interval ${f(low)} to ${f(high)}`;

/** The numbers behind both charts; groups and days without an estimate are left out. */
export function liftChartData(r: LiftReport): LiftChartData {
  const rates = (['treatment', 'holdout'] as const).flatMap((group): RatePoint[] => {
    const g = r.groups[group];
    if (g.rate === null || g.rate_ci_low === null || g.rate_ci_high === null) return [];
    return [
      {
        group,
        rate: round(g.rate),
        low: round(g.rate_ci_low),
        high: round(g.rate_ci_high),
        label: `${percent(g.rate, 2)} (${range(g.rate_ci_low, g.rate_ci_high, (x) => percent(x, 2))})`,
      },
    ];
  });
  const cumulative = r.by_entry_day.flatMap((d): CumulativePoint[] => {
    const l = d.cumulative_absolute_lift;
    if (l.estimate === null || l.ci_low === null || l.ci_high === null) return [];
    return [
      {
        day: d.entered,
        estimate: round(l.estimate),
        low: round(l.ci_low),
        high: round(l.ci_high),
        label:
          `${points(l.estimate, 2)} (${range(l.ci_low, l.ci_high, (x) => points(x, 2))}` +
          (d.cumulative_always_valid
            ? `; always-valid ${points(d.cumulative_always_valid.ci_low, 2)} to ${points(d.cumulative_always_valid.ci_high, 2)})`
            : ')'),
        avLow: d.cumulative_always_valid ? round(d.cumulative_always_valid.ci_low) : null,
        avHigh: d.cumulative_always_valid ? round(d.cumulative_always_valid.ci_high) : null,
      },
    ];
  });
  return { rates, cumulative };
}

/**
 * JSON for a `<script type="application/json">` data block. `<` is escaped so no value (an audience
 * id, a label) can close the element early; JSON.parse reads `\u003c` back as `<`.
 */
export function chartDataJson(data: LiftChartData): string {
  return JSON.stringify(data).replaceAll('<', '\\u003c');
}

let chartJs: string | undefined;

/**
 * Chart.js's UMD build, read once. From `dist/` it is the copy that `npm run build` puts in
 * `assets/` next to this module (chart.js is a dev dependency: the production install does not
 * have it); from the sources, the installed package's file, found next to the entry point its
 * `exports` allow (they hide `dist/`). The source-map comment is dropped: a browser with DevTools
 * open would otherwise try to fetch the map.
 */
export function chartJsSource(): string {
  if (chartJs === undefined) {
    const built = fileURLToPath(new URL('./assets/chart.umd.min.js', import.meta.url));
    const file = existsSync(built)
      ? built
      : join(dirname(createRequire(import.meta.url).resolve('chart.js')), 'chart.umd.min.js');
    const text = readFileSync(file, 'utf8');
    // Inlined as the body of a <script> element: a closing tag inside would end it early.
    if (/<\/script/i.test(text)) throw new Error('chart.js build contains "</script" and cannot be inlined');
    chartJs = text.replace(/\n\/\/# sourceMappingURL=\S*\s*$/, '\n');
  }
  return chartJs;
}

/** The value of a CSP `script-src` hash source for an inline script with this exact text. */
export function scriptHashSource(script: string): string {
  return `'sha256-${hash('sha256', script, 'base64')}'`;
}

/**
 * Runs in the browser after Chart.js. Charts start `hidden` (so with scripts off the page shows
 * only the tables); this shows and draws them, collapses the table that the cumulative chart
 * replaces, and records the outcome on <html data-charts> for tests and for anyone debugging.
 * Chart.js has no error bars, so a tiny plugin draws interval whiskers for datasets that carry
 * `intervals` (and the value labels next to them).
 */
export const DRAW_CHARTS_SCRIPT = `
(() => {
  const root = document.documentElement;
  const boxes = [];
  try {
    const data = JSON.parse(document.getElementById('lift-chart-data').textContent);
    const COLORS = { treatment: '#0b5cd5', holdout: '#8c959f' };
    Chart.defaults.font.family = 'system-ui, -apple-system, "Segoe UI", sans-serif';
    Chart.defaults.color = '#57606a';
    Chart.defaults.animation = false;
    // Tick values are binary fractions (0.30000000000000004): round before printing.
    const tidy = (v) => Math.round(Math.abs(v) * 1000) / 1000;
    const signed = (v) => (v > 0 ? '+' : v < 0 ? '\\u2212' : '') + tidy(v);

    const whiskers = {
      id: 'intervalWhiskers',
      afterDatasetsDraw(chart) {
        const ctx = chart.ctx;
        const horizontal = chart.options.indexAxis === 'y';
        const scale = horizontal ? chart.scales.x : chart.scales.y;
        chart.data.datasets.forEach((ds, i) => {
          if (!ds.intervals || !chart.isDatasetVisible(i)) return;
          ctx.save();
          ctx.strokeStyle = '#1b1f24';
          ctx.fillStyle = '#1b1f24';
          ctx.lineWidth = 2;
          ctx.font = '12px ' + Chart.defaults.font.family;
          ctx.textBaseline = 'middle';
          chart.getDatasetMeta(i).data.forEach((el, j) => {
            const a = scale.getPixelForValue(ds.intervals[j][0]);
            const b = scale.getPixelForValue(ds.intervals[j][1]);
            const cap = 7;
            ctx.beginPath();
            if (horizontal) {
              ctx.moveTo(a, el.y); ctx.lineTo(b, el.y);
              ctx.moveTo(a, el.y - cap); ctx.lineTo(a, el.y + cap);
              ctx.moveTo(b, el.y - cap); ctx.lineTo(b, el.y + cap);
            } else {
              ctx.moveTo(el.x, a); ctx.lineTo(el.x, b);
              ctx.moveTo(el.x - cap, a); ctx.lineTo(el.x + cap, a);
              ctx.moveTo(el.x - cap, b); ctx.lineTo(el.x + cap, b);
            }
            ctx.stroke();
            if (horizontal && ds.valueLabels) ctx.fillText(ds.valueLabels[j], b + 10, el.y);
          });
          ctx.restore();
        });
      },
    };

    const show = (id) => {
      const box = document.getElementById(id);
      if (!box) return null;
      box.hidden = false;
      boxes.push(box);
      return box.querySelector('canvas');
    };

    const ratesCanvas = data.rates.length > 0 && show('rates-chart');
    if (ratesCanvas) {
      const top = Math.max(...data.rates.map((r) => r.high));
      new Chart(ratesCanvas, {
        type: 'bar',
        data: {
          labels: data.rates.map((r) => r.group),
          datasets: [{
            label: 'conversion rate',
            data: data.rates.map((r) => r.rate),
            intervals: data.rates.map((r) => [r.low, r.high]),
            valueLabels: data.rates.map((r) => r.label),
            backgroundColor: data.rates.map((r) => COLORS[r.group]),
            barPercentage: 0.6,
          }],
        },
        options: {
          indexAxis: 'y',
          responsive: true,
          maintainAspectRatio: false,
          // Room on the right for the value labels drawn past the longest whisker.
          scales: {
            x: {
              beginAtZero: true,
              suggestedMax: top * 1.9,
              ticks: { callback: (v) => tidy(v) + '%' },
              title: { display: true, text: 'conversion rate: bars, with 95% intervals as whiskers' },
            },
            y: { ticks: { font: { weight: 'bold' }, color: '#1f2328' } },
          },
          plugins: {
            legend: { display: false },
            tooltip: { callbacks: { label: (c) => data.rates[c.dataIndex].label } },
          },
        },
        plugins: [whiskers],
      });
    }

    const points = data.cumulative;
    const hasAv = points.length > 0 && points.every((p) => p.avLow !== null && p.avHigh !== null);
    const liftCanvas = points.length > 0 && show('cumulative-chart');
    // The y range: zero, every estimate and fixed-horizon band, and the last day's always-valid
    // band (the narrowest, the one the headline reads), with a little room.
    const last = points[points.length - 1];
    const lows = [0, ...points.map((p) => p.low), ...(hasAv ? [last.avLow] : [])];
    const highs = [0, ...points.map((p) => p.high), ...(hasAv ? [last.avHigh] : [])];
    const pad = (Math.max(...highs) - Math.min(...lows)) * 0.08 || 1;
    const yBounds = { min: Math.min(...lows) - pad, max: Math.max(...highs) + pad };
    if (liftCanvas) {
      new Chart(liftCanvas, {
        type: 'line',
        data: {
          labels: points.map((p) => p.day),
          datasets: [
            { label: '95% band', data: points.map((p) => p.high), fill: '+1', backgroundColor: 'rgba(47,129,247,0.18)', borderWidth: 0, pointRadius: 0, pointHitRadius: 0 },
            { label: 'band low', data: points.map((p) => p.low), fill: false, borderWidth: 0, pointRadius: 0, pointHitRadius: 0 },
            {
              label: 'cumulative lift',
              data: points.map((p) => p.estimate),
              borderColor: '#0b5cd5',
              backgroundColor: '#0b5cd5',
              borderWidth: 2,
              pointRadius: 2.5,
              // A single day has no band to fill: show its interval as a whisker instead.
              intervals: points.length === 1 ? [[points[0].low, points[0].high]] : undefined,
            },
            { label: 'no effect', data: points.map(() => 0), borderColor: '#57606a', borderDash: [4, 3], borderWidth: 1, pointRadius: 0, pointHitRadius: 0 },
            // The always-valid band (confidence sequence) around the fixed-horizon one: dashed edges
            // and a faint orange fill only outside the blue band, so the two read apart.
            ...(hasAv ? [
              { label: 'always-valid 95% band', data: points.map((p) => p.avHigh), fill: 0, backgroundColor: 'rgba(207,100,20,0.10)', borderColor: '#cf6414', borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, pointHitRadius: 0 },
              { label: 'always-valid low', data: points.map((p) => p.avLow), fill: 1, backgroundColor: 'rgba(207,100,20,0.10)', borderColor: '#cf6414', borderDash: [6, 4], borderWidth: 1.5, pointRadius: 0, pointHitRadius: 0 },
            ] : []),
          ],
        },
        options: {
          responsive: true,
          maintainAspectRatio: false,
          interaction: { mode: 'index', intersect: false },
          scales: {
            x: {
              // One day would sit on the axis line: centre it instead.
              offset: points.length === 1,
              ticks: { maxRotation: 0, autoSkip: true, autoSkipPadding: 24 },
              title: { display: true, text: 'entry day (everyone who entered up to that day)' },
            },
            y: {
              // The always-valid band of the first few days is many times wider than anything
              // else; let it run off the chart rather than flatten the estimate and its band.
              ...(hasAv ? yBounds : {}),
              ticks: { callback: (v) => signed(v) },
              title: { display: true, text: 'lift, percentage points' },
            },
          },
          plugins: {
            legend: { labels: { filter: (item) => item.text !== 'band low' && item.text !== 'always-valid low' } },
            tooltip: {
              filter: (item) => item.datasetIndex === 2,
              callbacks: { label: (c) => 'cumulative lift ' + points[c.dataIndex].label },
            },
          },
        },
        plugins: [whiskers],
      });
    }

    for (const table of document.querySelectorAll('details.chart-numbers')) table.open = false;
    root.dataset.charts = 'drawn';
  } catch (error) {
    // Blank canvases help no one: hide them again and leave the tables.
    for (const box of boxes) box.hidden = true;
    root.dataset.charts = 'failed';
    console.error('lift charts could not be drawn:', error);
  }
})();
`;
