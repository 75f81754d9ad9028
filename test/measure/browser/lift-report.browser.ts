import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LiftReport, measureLift } from '../../../src/measure/report.js';
import { FsObjectStore } from '../../../src/storage/fs-store.js';
import { writeScenario } from '../fixtures.js';
import { Browser } from './cdp.js';

/**
 * Opens the lift page in headless Chromium, with every network lookup failing, and checks that the
 * charts were laid out with sizes that match the data. The screenshot is saved under the test
 * output directory (TEST_OUTPUT_DIR, default: <tmp>/audience-sync-test-output).
 */

const OUTPUT = join(process.env.TEST_OUTPUT_DIR ?? join(tmpdir(), 'audience-sync-test-output'), 'browser');

interface Layout {
  charts: Array<{ name: string; width: number; height: number }>;
  bars: Array<{ group: string; width: number }>;
  linePoints: number;
  lineLength: number;
  bandHeight: number;
  headline: string;
}

describe('lift report page in Chromium', () => {
  let browser: Browser;
  let root: string;
  let report: LiftReport;
  let page: string;

  beforeAll(async () => {
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
    page = join(root, result.keys!.html);
    browser = await Browser.launch();
  });

  afterAll(async () => {
    await browser?.close();
    await rm(root, { recursive: true, force: true });
  });

  it('renders both charts offline, sized by the data, and saves a screenshot', async () => {
    const { targetId } = await browser.send<{ targetId: string }>('Target.createTarget', {
      url: 'about:blank',
    });
    const { sessionId } = await browser.send<{ sessionId: string }>('Target.attachToTarget', {
      targetId,
      flatten: true,
    });
    const requests: string[] = [];
    browser.onEvent((e) => {
      if (e.method === 'Network.requestWillBeSent' && e.sessionId === sessionId) {
        requests.push(String((e.params.request as { url: string }).url));
      }
    });
    await browser.send('Page.enable', {}, sessionId);
    await browser.send('Network.enable', {}, sessionId);
    await browser.send(
      'Emulation.setDeviceMetricsOverride',
      { width: 900, height: 1400, deviceScaleFactor: 1, mobile: false },
      sessionId,
    );
    const loaded = browser.waitForEvent('Page.loadEventFired', sessionId);
    await browser.send('Page.navigate', { url: pathToFileURL(page).href }, sessionId);
    await loaded;

    const { result } = await browser.send<{ result: { value: Layout } }>(
      'Runtime.evaluate',
      {
        returnByValue: true,
        expression: `(() => {
          const box = (el) => el.getBoundingClientRect();
          const line = document.querySelector('polyline.estimate');
          const band = document.querySelector('.band');
          return {
            charts: [...document.querySelectorAll('svg.chart')].map((s) => ({ name: s.dataset.chart, width: box(s).width, height: box(s).height })),
            bars: [...document.querySelectorAll('rect.bar')].map((b) => ({ group: b.dataset.group, width: box(b).width })),
            linePoints: line ? line.points.numberOfItems : 0,
            lineLength: line ? line.getTotalLength() : 0,
            bandHeight: band ? box(band).height : 0,
            headline: document.getElementById('headline')?.textContent ?? '',
          };
        })()`,
      },
      sessionId,
    );
    const layout = result.value;

    expect(layout.charts.map((c) => c.name)).toEqual(['rates', 'cumulative']);
    for (const chart of layout.charts) {
      expect(chart.width).toBeGreaterThan(300);
      expect(chart.height).toBeGreaterThan(100);
    }
    // Bar lengths are proportional to the conversion rates they show.
    const width = Object.fromEntries(layout.bars.map((b) => [b.group, b.width]));
    const { treatment, holdout } = report.groups;
    expect(width.treatment! / width.holdout!).toBeCloseTo(treatment.rate! / holdout.rate!, 1);
    // One point per matured entry day on a drawn line, inside a band of non-zero height.
    expect(layout.linePoints).toBe(report.by_entry_day.length);
    expect(layout.lineLength).toBeGreaterThan(100);
    expect(layout.bandHeight).toBeGreaterThan(10);
    expect(layout.headline).toBe(report.headline);
    // Nothing but the file itself was requested.
    expect(requests.every((u) => u.startsWith('file:'))).toBe(true);

    const shot = await browser.send<{ data: string }>(
      'Page.captureScreenshot',
      { format: 'png', captureBeyondViewport: true },
      sessionId,
    );
    const png = Buffer.from(shot.data, 'base64');
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    await mkdir(OUTPUT, { recursive: true });
    const file = join(OUTPUT, 'lift-report.png');
    await writeFile(file, png);
    process.stdout.write(`screenshot: ${file}\n`);
  });
});
