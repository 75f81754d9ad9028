/**
 * Inline SVG charts for the lift page. Drawn on the server as plain markup, so the page needs no
 * script, no network and no fonts to show them (it opens from an email attachment or an S3
 * console download just the same).
 */

export function escapeHtml(s: string): string {
  return s
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

/** Round coordinates so the markup stays short and stable. */
function n(x: number): string {
  return (Math.round(x * 100) / 100).toString();
}

/** About `target` round tick values covering [min, max]. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / target;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= raw) ?? 10 * magnitude;
  const ticks: number[] = [];
  for (let v = Math.ceil(min / step) * step; v <= max + step * 1e-9; v += step) {
    ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  }
  return ticks;
}

const pct = (x: number) => `${(Math.round(x * 1000) / 10).toString()}%`;
const pts = (x: number) => `${x > 0 ? '+' : ''}${(Math.round(x * 1000) / 10).toString()}`;

export interface RateBar {
  label: string;
  rate: number;
  low: number;
  high: number;
  color: string;
}

/** Horizontal bars of conversion rates with their 95% intervals as whiskers. */
export function rateChart(bars: RateBar[], title: string): string {
  const width = 640;
  const rowHeight = 56;
  const left = 110;
  const right = 30;
  const top = 30;
  const bottom = 36;
  const height = top + bars.length * rowHeight + bottom;
  const max = Math.max(0.01, ...bars.map((b) => b.high)) * 1.1;
  const ticks = niceTicks(0, max);
  const axisMax = Math.max(max, ticks.at(-1) ?? max);
  const x = (v: number) => left + (v / axisMax) * (width - left - right);
  const parts: string[] = [];
  parts.push(
    `<svg class="chart" data-chart="rates" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(title)}">`,
    `<title>${escapeHtml(title)}</title>`,
  );
  for (const t of ticks) {
    parts.push(
      `<line x1="${n(x(t))}" y1="${top - 6}" x2="${n(x(t))}" y2="${height - bottom}" stroke="#e3e6ea"/>`,
      `<text x="${n(x(t))}" y="${height - bottom + 18}" text-anchor="middle" class="tick">${pct(t)}</text>`,
    );
  }
  bars.forEach((b, i) => {
    const cy = top + i * rowHeight + rowHeight / 2;
    parts.push(
      `<text x="${left - 10}" y="${n(cy + 5)}" text-anchor="end" class="label">${escapeHtml(b.label)}</text>`,
      `<rect class="bar" data-group="${escapeHtml(b.label)}" x="${left}" y="${n(cy - 14)}" width="${n(Math.max(1, x(b.rate) - left))}" height="28" fill="${b.color}" opacity="0.85"/>`,
      `<line class="interval" x1="${n(x(b.low))}" y1="${n(cy)}" x2="${n(x(b.high))}" y2="${n(cy)}" stroke="#1b1f24" stroke-width="2"/>`,
      `<line x1="${n(x(b.low))}" y1="${n(cy - 8)}" x2="${n(x(b.low))}" y2="${n(cy + 8)}" stroke="#1b1f24" stroke-width="2"/>`,
      `<line x1="${n(x(b.high))}" y1="${n(cy - 8)}" x2="${n(x(b.high))}" y2="${n(cy + 8)}" stroke="#1b1f24" stroke-width="2"/>`,
      `<text x="${n(Math.min(x(b.high) + 8, width - right))}" y="${n(cy + 5)}" class="value">${pct(b.rate)}</text>`,
    );
  });
  parts.push(
    `<line x1="${left}" y1="${top - 6}" x2="${left}" y2="${height - bottom}" stroke="#57606a"/>`,
    `<text x="${width / 2}" y="${height - 4}" text-anchor="middle" class="axis">conversion rate (bars) with 95% interval (whiskers)</text>`,
    '</svg>',
  );
  return parts.join('\n');
}

export interface LiftPoint {
  day: string;
  estimate: number;
  low: number;
  high: number;
}

/** Cumulative absolute lift by entry day: a line inside its 95% band, with the zero line marked. */
export function cumulativeLiftChart(points: LiftPoint[], title: string): string {
  const width = 640;
  const height = 280;
  const left = 60;
  const right = 20;
  const top = 20;
  const bottom = 50;
  if (points.length === 0) {
    return `<svg class="chart" data-chart="cumulative" viewBox="0 0 ${width} 60" width="${width}" height="60" role="img" aria-label="${escapeHtml(title)}"><title>${escapeHtml(title)}</title><text x="${width / 2}" y="34" text-anchor="middle" class="axis">no matured entry days yet</text></svg>`;
  }
  const lows = points.map((p) => p.low);
  const highs = points.map((p) => p.high);
  let min = Math.min(0, ...lows);
  let max = Math.max(0, ...highs);
  const pad = (max - min) * 0.05 || 0.01;
  min -= pad;
  max += pad;
  const ticks = niceTicks(min, max);
  const x = (i: number) =>
    points.length === 1
      ? (left + width - right) / 2
      : left + (i / (points.length - 1)) * (width - left - right);
  const y = (v: number) => top + ((max - v) / (max - min)) * (height - top - bottom);
  const parts: string[] = [
    `<svg class="chart" data-chart="cumulative" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${escapeHtml(title)}">`,
    `<title>${escapeHtml(title)}</title>`,
  ];
  for (const t of ticks) {
    if (t < min || t > max) continue;
    parts.push(
      `<line x1="${left}" y1="${n(y(t))}" x2="${width - right}" y2="${n(y(t))}" stroke="#e3e6ea"/>`,
      `<text x="${left - 8}" y="${n(y(t) + 4)}" text-anchor="end" class="tick">${pts(t)}</text>`,
    );
  }
  const band = [
    ...points.map((p, i) => `${n(x(i))},${n(y(p.high))}`),
    ...points.map((p, i) => `${n(x(i))},${n(y(p.low))}`).reverse(),
  ].join(' ');
  if (points.length > 1) {
    parts.push(`<polygon class="band" points="${band}" fill="#2f81f7" opacity="0.18"/>`);
  } else {
    const p = points[0]!;
    parts.push(
      `<line class="band" x1="${n(x(0))}" y1="${n(y(p.low))}" x2="${n(x(0))}" y2="${n(y(p.high))}" stroke="#2f81f7" stroke-width="6" opacity="0.35"/>`,
    );
  }
  parts.push(
    `<line x1="${left}" y1="${n(y(0))}" x2="${width - right}" y2="${n(y(0))}" stroke="#57606a" stroke-dasharray="4 3"/>`,
    `<polyline class="estimate" points="${points.map((p, i) => `${n(x(i))},${n(y(p.estimate))}`).join(' ')}" fill="none" stroke="#0b5cd5" stroke-width="2"/>`,
  );
  points.forEach((p, i) => {
    parts.push(
      `<circle cx="${n(x(i))}" cy="${n(y(p.estimate))}" r="2.5" fill="#0b5cd5"><title>${escapeHtml(p.day)}: ${pts(p.estimate)} pts (${pts(p.low)} to ${pts(p.high)})</title></circle>`,
    );
  });
  // Day labels are about 70 px wide: space them at least 85 px apart; the last day is always
  // labelled, so a regular label too close before it is dropped.
  const LABEL_GAP = 85;
  const lastIndex = points.length - 1;
  const step = lastIndex > 0 ? (width - left - right) / lastIndex : LABEL_GAP;
  const labelEvery = Math.max(1, Math.ceil(LABEL_GAP / step));
  points.forEach((p, i) => {
    const regular = i % labelEvery === 0 && x(lastIndex) - x(i) >= LABEL_GAP + 35;
    if (!regular && i !== lastIndex) return;
    const anchor = lastIndex > 0 && i === lastIndex ? 'end' : 'middle';
    parts.push(
      `<text x="${n(x(i))}" y="${height - bottom + 18}" text-anchor="${anchor}" class="tick">${escapeHtml(p.day)}</text>`,
    );
  });
  parts.push(
    `<text x="${(left + width - right) / 2}" y="${height - 8}" text-anchor="middle" class="axis">entry day (cumulative) — lift in percentage points with 95% band</text>`,
    '</svg>',
  );
  return parts.join('\n');
}
