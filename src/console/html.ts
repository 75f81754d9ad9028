/**
 * Server-rendered HTML for the console with one escaping rule: every value interpolated into an
 * `html` template is escaped, unless it is itself the output of `html` (already safe). There is no
 * other way to put text into a page, so a value cannot reach the markup unescaped by accident.
 */

const SAFE = Symbol('safe-html');

export interface SafeHtml {
  readonly [SAFE]: true;
  readonly text: string;
}

const safe = (text: string): SafeHtml => ({ [SAFE]: true, text });

function isSafe(value: unknown): value is SafeHtml {
  return typeof value === 'object' && value !== null && SAFE in value;
}

export function escapeHtml(value: string): string {
  return value
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

export type Interpolated = SafeHtml | string | number | boolean | null | undefined | readonly Interpolated[];

function render(value: Interpolated): string {
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(render).join('');
  if (isSafe(value)) return value.text;
  return escapeHtml(String(value));
}

/** A template whose every interpolation is escaped (arrays are joined, null/undefined/false are empty). */
export function html(strings: TemplateStringsArray, ...values: Interpolated[]): SafeHtml {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + (strings[i + 1] ?? '');
  return safe(out);
}

/**
 * JSON for a `<script type="application/json">` data block (read by console.js, never executed).
 * `<` is escaped so no value can close the element; JSON.parse reads `\u003c` back as `<`.
 */
export function jsonBlock(id: string, data: unknown): SafeHtml {
  const json = JSON.stringify(data).replaceAll('<', '\\u003c');
  return safe(`<script type="application/json" id="${escapeHtml(id)}">${json}</script>`);
}

export const fmtInt = (n: number | null | undefined): string =>
  n === null || n === undefined || !Number.isFinite(n) ? '—' : Math.round(n).toLocaleString('en-US');

export const fmtPercent = (share: number | null | undefined, digits = 1): string =>
  share === null || share === undefined || !Number.isFinite(share)
    ? '—'
    : `${(share * 100).toFixed(digits)}%`;

export function fmtDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 120) return `${s.toFixed(1)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}

export interface Layout {
  title: string;
  /** Present once signed in: the sign-out form and the navigation are shown. */
  csrf?: string;
  active?: 'overview' | 'audiences' | 'people' | 'health';
  /** Pages with charts load Chart.js before console.js. */
  charts?: boolean;
  body: SafeHtml;
}

export function page(layout: Layout): string {
  const nav = layout.csrf
    ? html`<header class="top">
  <a class="brand" href="/console">audience-sync console</a>
  <nav aria-label="Console">
    <a href="/console"${layout.active === 'overview' ? safe(' aria-current="page"') : ''}>Overview</a>
    <a href="/console/audiences"${layout.active === 'audiences' ? safe(' aria-current="page"') : ''}>Audiences</a>
    <a href="/console/health"${layout.active === 'health' ? safe(' aria-current="page"') : ''}>Data health</a>
    <a href="/console/people"${layout.active === 'people' ? safe(' aria-current="page"') : ''}>Person lookup</a>
  </nav>
  <form method="post" action="/console/sign-out" class="sign-out">
    <input type="hidden" name="_csrf" value="${layout.csrf}">
    <button type="submit">Sign out</button>
  </form>
</header>`
    : html`<header class="top"><span class="brand">audience-sync console</span></header>`;
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${layout.title} · audience-sync</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/console.css">
${layout.charts ? safe('<script src="/console/assets/chart.umd.min.js" defer></script>') : ''}
<script src="/console/assets/console.js" defer></script>
</head>
<body>
${nav}
<main id="main">
<h1>${layout.title}</h1>
${layout.body}
</main>
</body>
</html>
`.text;
}
