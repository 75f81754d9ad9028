import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { points } from '../../../src/measure/format.js';
import { renderLiftHtml } from '../../../src/measure/html.js';
import { type LiftReport, measureLift } from '../../../src/measure/report.js';
import { FsObjectStore } from '../../../src/storage/fs-store.js';
import { artifactsDir } from '../../helpers/artifacts.js';
import { writeScenario } from '../fixtures.js';

/**
 * Opens the lift page in Debian's headless Chromium (driven by playwright-core; no browser is
 * downloaded) and checks through Chart.js's own API and the canvas pixels that both charts were
 * drawn from the report's numbers, that nothing but the file itself was requested, and that with
 * scripts off the tables carry the numbers. Screenshots are saved under the test output directory
 * (test-artifacts/browser/, or TEST_OUTPUT_DIR/browser/).
 */

const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = artifactsDir('browser');

/** What the page says about its charts, read inside the browser. */
interface Drawn {
  state: string | undefined;
  headline: string;
  charts: Array<{ name: string; type: string; width: number; height: number; inked: number }>;
  bars: Array<{ group: string; length: number; whiskerLow: number[]; whiskerHigh: number[] }>;
  line: {
    points: number;
    labels: string[];
    bandPixel: number[];
    /** Between the fixed-horizon band's upper edge and the always-valid one's: the orange strip. */
    alwaysValidPixel: number[];
    aboveBandPixel: number[];
    /** Pixel rows of the upper edges where they are furthest apart: fixed-horizon, always-valid. */
    edges: [number, number];
    alwaysValid: Array<[number, number]>;
    /** The y axis's range, percentage points. */
    yRange: [number, number];
  };
}

/**
 * Runs in the page. `inked` is the share of canvas pixels that are not the white background;
 * whisker pixels are sampled exactly where the plugin draws the interval ends; the band pixel is
 * halfway between the upper band edge and the line at the middle day, so it is inside the fill.
 */
function readCharts(): Drawn {
  // The project compiles without the DOM library: the few browser shapes used here, by hand.
  interface Canvas {
    width: number;
    height: number;
    dataset: Record<string, string | undefined>;
    getContext(kind: '2d'): {
      getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
    };
  }
  interface ChartLike {
    config: { type: string };
    width: number;
    height: number;
    data: {
      labels: string[];
      datasets: Array<{ label: string; data: number[]; intervals?: number[][] }>;
    };
    scales: Record<string, { getPixelForValue(v: number): number; min: number; max: number }>;
    chartArea: { top: number; bottom: number };
    getDatasetMeta(i: number): { data: Array<{ x: number; y: number; base: number }> };
  }
  const { document, devicePixelRatio, Chart } = globalThis as unknown as {
    devicePixelRatio: number;
    Chart: { getChart(canvas: Canvas): ChartLike | undefined };
    document: {
      documentElement: { dataset: Record<string, string | undefined> };
      getElementById(id: string): { textContent: string | null } | null;
      querySelectorAll(selector: string): Iterable<Canvas>;
    };
  };
  /** One pixel as [r, g, b, alpha], at CSS coordinates. */
  const pixel = (canvas: Canvas, x: number, y: number) => [
    ...canvas
      .getContext('2d')
      .getImageData(Math.round(x * devicePixelRatio), Math.round(y * devicePixelRatio), 1, 1).data,
  ];
  const canvases = [...document.querySelectorAll('canvas[data-chart]')];
  const byName = (name: string) => canvases.find((c) => c.dataset.chart === name)!;
  const api = Chart;
  const charts = canvases.map((canvas) => {
    const chart = api.getChart(canvas);
    const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    let inked = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3]! > 0 && (data[i]! < 245 || data[i + 1]! < 245 || data[i + 2]! < 245)) inked++;
    }
    return {
      name: canvas.dataset.chart ?? '',
      type: chart?.config.type ?? 'none',
      width: chart?.width ?? 0,
      height: chart?.height ?? 0,
      inked: inked / (canvas.width * canvas.height),
    };
  });
  const rates = api.getChart(byName('rates'))!;
  const ratesSet = rates.data.datasets[0]!;
  const bars = rates.getDatasetMeta(0).data.map((el, i) => ({
    group: rates.data.labels[i]!,
    length: Math.abs(el.x - el.base),
    whiskerLow: pixel(byName('rates'), rates.scales.x!.getPixelForValue(ratesSet.intervals![i]![0]!), el.y),
    whiskerHigh: pixel(byName('rates'), rates.scales.x!.getPixelForValue(ratesSet.intervals![i]![1]!), el.y),
  }));
  const lift = api.getChart(byName('cumulative'))!;
  const estimates = lift.getDatasetMeta(2).data;
  const middle = Math.floor(estimates.length / 2);
  const el = estimates[middle]!;
  const highY = lift.scales.y!.getPixelForValue(lift.data.datasets[0]!.data[middle]!);
  const avHigh = lift.data.datasets[4]!.data;
  const avLow = lift.data.datasets[5]!.data;
  // The always-valid strip is sampled at the day where it is widest on screen among the days whose
  // upper edge is inside the chart (the early days' edges run off it, clipped).
  const area = lift.chartArea;
  const y = (v: number) => lift.scales.y!.getPixelForValue(v);
  const fixedHigh = lift.data.datasets[0]!.data;
  let k = avHigh.length - 1;
  for (let i = 0; i < avHigh.length; i++) {
    if (y(avHigh[i]!) < area.top + 14) continue;
    if (y(fixedHigh[i]!) - y(avHigh[i]!) > y(fixedHigh[k]!) - y(avHigh[k]!)) k = i;
  }
  const at = estimates[k]!;
  const fixedHighY = y(fixedHigh[k]!);
  const avHighY = y(avHigh[k]!);
  return {
    state: document.documentElement.dataset.charts,
    headline: document.getElementById('headline')?.textContent ?? '',
    charts,
    bars,
    line: {
      points: estimates.length,
      labels: lift.data.datasets.map((d) => d.label),
      bandPixel: pixel(byName('cumulative'), el.x, (highY + el.y) / 2),
      alwaysValidPixel: pixel(byName('cumulative'), at.x, (fixedHighY + avHighY) / 2),
      aboveBandPixel: pixel(byName('cumulative'), at.x, avHighY - 12),
      edges: [fixedHighY, avHighY],
      alwaysValid: avHigh.map((h, i) => [avLow[i]!, h]),
      yRange: [lift.scales.y!.min, lift.scales.y!.max],
    },
  };
}

describe('lift report page in Chromium', () => {
  let browser: Browser;
  let context: BrowserContext | undefined;
  let root: string;
  let report: LiftReport;
  let pageUrl: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)`);
    }
    root = join(tmpdir(), `audience-sync-browser-${process.pid}`);
    const store = new FsObjectStore(root);
    await writeScenario(store, {
      audienceId: 'cart_recovery',
      salt: 'cart_recovery',
      fraction: 0.2,
      firstDay: '2026-01-01',
      entryDays: 20,
      stayDays: 2,
      people: 5000,
      windowDays: 14,
      holdoutRate: 0.1,
      lift: 0.05,
      seed: 5,
    });
    const result = await measureLift({
      store,
      audienceId: 'cart_recovery',
      asOf: '2026-02-03',
      windowDays: 14,
      event: 'order_completed',
      holdoutFraction: 0.2,
      salt: 'cart_recovery',
    });
    report = result.report;
    pageUrl = pathToFileURL(join(root, result.keys!.html)).href;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    await mkdir(OUTPUT, { recursive: true });
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
  });

  afterAll(async () => {
    await browser?.close();
    await rm(root, { recursive: true, force: true });
  });

  /** A fresh page that records every request and every error it reports. */
  async function open(javaScriptEnabled: boolean, url = pageUrl) {
    context = await browser.newContext({ viewport: { width: 900, height: 1300 }, javaScriptEnabled });
    const requests: string[] = [];
    const problems: string[] = [];
    context.on('request', (request) => requests.push(request.url()));
    const page: Page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(url, { waitUntil: 'load' });
    return { page, requests, problems };
  }

  async function screenshot(page: Page, name: string): Promise<Buffer> {
    const file = join(OUTPUT, name);
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`screenshot: ${file}\n`);
    return readFile(file);
  }

  it('draws both charts with Chart.js from the report numbers, offline, and saves a screenshot', async () => {
    const { page, requests, problems } = await open(true);
    await page.waitForFunction('document.documentElement.dataset.charts !== undefined');
    // Taken before the test reads pixels back (which makes Chromium warn about getImageData).
    const pageProblems = [...problems];
    const drawn = await page.evaluate(readCharts);

    expect(drawn.state).toBe('drawn');
    expect(drawn.headline).toBe(report.headline);
    expect(drawn.charts.map((c) => [c.name, c.type])).toEqual([
      ['rates', 'bar'],
      ['cumulative', 'line'],
    ]);
    for (const chart of drawn.charts) {
      expect(chart.width).toBeGreaterThan(600);
      expect(chart.height).toBeGreaterThan(150);
      // A blank canvas is all background; axes, labels, bars and lines ink a visible share.
      expect(chart.inked).toBeGreaterThan(0.03);
    }

    // Bar lengths follow the conversion rates, and the whiskers sit at the interval ends.
    const { treatment, holdout } = report.groups;
    const length = Object.fromEntries(drawn.bars.map((b) => [b.group, b.length]));
    expect(length.treatment! / length.holdout!).toBeCloseTo(treatment.rate! / holdout.rate!, 2);
    // The canvas background is transparent: a whisker pixel is opaque and nearly black.
    const whisker = ([r, g, b, alpha]: number[]) => alpha! > 200 && Math.max(r!, g!, b!) < 90;
    for (const bar of drawn.bars) {
      expect(whisker(bar.whiskerLow), `${bar.group} low whisker ${bar.whiskerLow}`).toBe(true);
      expect(whisker(bar.whiskerHigh), `${bar.group} high whisker ${bar.whiskerHigh}`).toBe(true);
    }

    // One point per matured entry day, inside a translucent blue band (the fixed-horizon 95%
    // interval), inside a wider orange strip (the always-valid interval); (almost) nothing drawn
    // just above that (a grid line at most, black at 10% opacity).
    expect(drawn.line.points).toBe(report.by_entry_day.length);
    expect(drawn.line.labels).toEqual([
      '95% band',
      'band low',
      'cumulative lift',
      'no effect',
      'always-valid 95% band',
      'always-valid low',
    ]);
    // The always-valid band is the report's, point by point (percentage points).
    expect(drawn.line.alwaysValid).toEqual(
      report.by_entry_day.map((d) => [
        expect.closeTo(d.cumulative_always_valid!.ci_low * 100, 3),
        expect.closeTo(d.cumulative_always_valid!.ci_high * 100, 3),
      ]),
    );
    const [r, g, b, alpha] = drawn.line.bandPixel as [number, number, number, number];
    expect(alpha, `band pixel ${drawn.line.bandPixel}`).toBeGreaterThan(20);
    expect(b - r, `band pixel ${drawn.line.bandPixel}`).toBeGreaterThan(100);
    expect(b).toBeGreaterThan(g);
    // The always-valid edge is well above the fixed-horizon one (canvas y grows downwards).
    expect(drawn.line.edges[0] - drawn.line.edges[1]).toBeGreaterThan(10);
    const [ar, , ab, aalpha] = drawn.line.alwaysValidPixel as [number, number, number, number];
    expect(aalpha, `always-valid pixel ${drawn.line.alwaysValidPixel}`).toBeGreaterThan(15);
    expect(ar - ab, `always-valid pixel ${drawn.line.alwaysValidPixel}`).toBeGreaterThan(100);
    expect(drawn.line.aboveBandPixel[3], `above band ${drawn.line.aboveBandPixel}`).toBeLessThan(30);
    // The y axis holds every fixed-horizon band and the last day's always-valid band, not the
    // first days' far wider always-valid band, which runs off the chart.
    const [yMin, yMax] = drawn.line.yRange;
    const days = report.by_entry_day;
    const lastAv = days.at(-1)!.cumulative_always_valid!;
    for (const d of days) {
      expect(yMin).toBeLessThanOrEqual(d.cumulative_absolute_lift.ci_low! * 100);
      expect(yMax).toBeGreaterThanOrEqual(d.cumulative_absolute_lift.ci_high! * 100);
    }
    expect(yMin).toBeLessThanOrEqual(lastAv.ci_low * 100);
    expect(yMax).toBeGreaterThanOrEqual(lastAv.ci_high * 100);
    expect(yMax).toBeLessThan(Math.max(...days.map((d) => d.cumulative_always_valid!.ci_high * 100)));

    // Nothing but the file itself was requested, and the page's CSP blocked nothing.
    expect(requests).toEqual([pageUrl]);
    expect(pageProblems).toEqual([]);

    const png = await screenshot(page, 'lift-report.png');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
  });

  it('with scripts off keeps the charts hidden and shows the numbers in tables', async () => {
    const { page, requests } = await open(false);
    expect(await page.locator('#rates-chart').isHidden()).toBe(true);
    expect(await page.locator('#cumulative-chart').isHidden()).toBe(true);
    expect(await page.locator('#headline').textContent()).toBe(report.headline);

    const rows = page.locator('details.chart-numbers tbody tr');
    expect(await page.locator('details.chart-numbers').getAttribute('open')).not.toBeNull();
    expect(await rows.count()).toBe(report.by_entry_day.length);
    const last = report.by_entry_day.at(-1)!.cumulative_absolute_lift;
    expect(await rows.last().locator('td').nth(5).textContent()).toBe(points(last.estimate, 2));
    expect(await rows.last().isVisible()).toBe(true);
    expect(requests).toEqual([pageUrl]);

    await screenshot(page, 'lift-report-no-script.png');
  });

  it('shows a single matured day as a point with a whisker, and no days as a note', async () => {
    const single = join(root, 'single-day.html');
    await writeFile(single, renderLiftHtml({ ...report, by_entry_day: report.by_entry_day.slice(0, 1) }));
    const one = await open(true, pathToFileURL(single).href);
    await one.page.waitForFunction('document.documentElement.dataset.charts !== undefined');
    const problems = [...one.problems];
    const drawn = await one.page.evaluate(() => {
      type Px = { data: Uint8ClampedArray };
      const { document, devicePixelRatio, Chart } = globalThis as unknown as {
        devicePixelRatio: number;
        document: {
          documentElement: { dataset: Record<string, string | undefined> };
          querySelector(s: string): { getContext(k: '2d'): { getImageData(...a: number[]): Px } };
        };
        Chart: {
          getChart(c: unknown): {
            data: { datasets: Array<{ intervals?: number[][] }> };
            scales: Record<string, { getPixelForValue(v: number): number }>;
            getDatasetMeta(i: number): { data: Array<{ x: number; y: number }> };
          };
        };
      };
      const canvas = document.querySelector('canvas[data-chart="cumulative"]');
      const chart = Chart.getChart(canvas);
      const [el] = chart.getDatasetMeta(2).data;
      const [low, high] = chart.data.datasets[2]!.intervals![0]!;
      const at = (y: number) => [
        ...canvas
          .getContext('2d')
          .getImageData(Math.round(el!.x * devicePixelRatio), Math.round(y * devicePixelRatio), 1, 1).data,
      ];
      return {
        state: document.documentElement.dataset.charts,
        points: chart.getDatasetMeta(2).data.length,
        low: at(chart.scales.y!.getPixelForValue(low!)),
        high: at(chart.scales.y!.getPixelForValue(high!)),
      };
    });
    expect(problems).toEqual([]);
    expect(drawn.state).toBe('drawn');
    expect(drawn.points).toBe(1);
    const whisker = ([r, g, b, alpha]: number[]) => alpha! > 200 && Math.max(r!, g!, b!) < 90;
    expect(whisker(drawn.low), `low whisker ${drawn.low}`).toBe(true);
    expect(whisker(drawn.high), `high whisker ${drawn.high}`).toBe(true);
    await screenshot(one.page, 'lift-report-single-day.png');
    await context?.close();

    const none = join(root, 'no-days.html');
    await writeFile(none, renderLiftHtml({ ...report, by_entry_day: [] }));
    const empty = await open(true, pathToFileURL(none).href);
    await empty.page.waitForFunction('document.documentElement.dataset.charts !== undefined');
    expect(empty.problems).toEqual([]);
    expect(await empty.page.evaluate('document.documentElement.dataset.charts')).toBe('drawn');
    expect(await empty.page.locator('canvas[data-chart="cumulative"]').count()).toBe(0);
    expect(await empty.page.getByText('No matured entry days yet.').isVisible()).toBe(true);
    expect(await empty.page.locator('#rates-chart').isVisible()).toBe(true);
  });
});
