import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, DESTINATION } from '../health/fixture.js';
import { artifactsDir } from '../helpers/artifacts.js';
import { ADMIN_KEY, type ConsoleHarness, EARLIER, LAST_DAY, startConsoleApp } from './fixture.js';

/**
 * The console in Debian's headless Chromium (playwright-core, no browser download), over a real
 * HTTP server: sign in through the form, visit every page, check the numbers and that the charts
 * were drawn by the Chart.js this server serves, with no console error, no CSP violation and no
 * failed request; then "sync now" through its confirmation. Screenshots of every page go to
 * test-artifacts/browser/ (or TEST_OUTPUT_DIR/browser/), which CI keeps in its log directory.
 */
const CHROMIUM = '/usr/bin/chromium';
const OUTPUT = artifactsDir('browser');

describe('operator console in Chromium', () => {
  let h: ConsoleHarness;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  const problems: string[] = [];
  const failed: string[] = [];
  const foreign: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`${CHROMIUM} not found: install Debian's chromium package (apt-get install chromium)`);
    }
    h = await startConsoleApp();
    base = await h.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    await mkdir(OUTPUT, { recursive: true });
    context = await browser.newContext({ viewport: { width: 1200, height: 1000 } });
    context.on('request', (request) => {
      if (!request.url().startsWith(base) && !request.url().startsWith('data:')) foreign.push(request.url());
    });
    context.on('requestfailed', (request) => failed.push(`${request.url()} ${request.failure()?.errorText}`));
    context.on('response', (response) => {
      if (response.status() >= 400) failed.push(`${response.url()} ${response.status()}`);
    });
    page = await context.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(message.text());
    });
    page.on('pageerror', (error) => problems.push(error.message));
  });

  afterAll(async () => {
    await context?.close();
    await browser?.close();
    await h?.close();
  });

  async function shot(name: string) {
    const file = join(OUTPUT, name);
    await page.screenshot({ path: file, fullPage: true });
    process.stdout.write(`screenshot: ${file}\n`);
  }

  /** After each page: nothing failed, nothing was blocked, nothing left the server. */
  function clean() {
    expect(problems).toEqual([]);
    expect(failed).toEqual([]);
    expect(foreign).toEqual([]);
  }

  it('redirects to sign-in, refuses a wrong key, and signs in from the keyboard', async () => {
    await page.goto(`${base}/console/audiences`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await shot('console-sign-in.png');

    await page.locator('#key').fill('not-the-key');
    // A refused sign-in answers 401 with the form again: expected, so not counted as a failure.
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(await page.locator('.error').textContent()).toBe('That key is not an admin key.');
    failed.length = 0;
    problems.length = 0;

    await page.locator('#key').fill(ADMIN_KEY);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(new URL(page.url()).pathname).toBe('/console');
    clean();
  });

  it('overview: days, stage statuses and the open alert', async () => {
    await page.goto(`${base}/console`);
    for (const day of [...Object.keys(EARLIER), LAST_DAY]) {
      expect(await page.locator(`#day-${day}`).isVisible()).toBe(true);
    }
    expect(await page.getByText(`destination_failing:${DESTINATION}`).isVisible()).toBe(true);
    await shot('console-overview.png');
    clean();
  });

  it('audiences and an audience: numbers and the size chart drawn by Chart.js', async () => {
    await page.goto(`${base}/console/audiences`);
    expect(await page.getByRole('link', { name: AUDIENCE, exact: true }).isVisible()).toBe(true);
    expect(await page.getByText(String(h.latest.counts.treatment), { exact: true }).count()).toBeGreaterThan(
      0,
    );
    await shot('console-audiences.png');
    clean();
    await page.getByRole('link', { name: AUDIENCE, exact: true }).click();
    await page.waitForFunction('document.documentElement.dataset.charts !== undefined');
    expect(await page.evaluate('document.documentElement.dataset.charts')).toBe('drawn');
    expect(await page.locator('#sizes-chart').isVisible()).toBe(true);
    expect(await page.locator('dd[data-count="treatment"]').textContent()).toBe(
      String(h.latest.counts.treatment),
    );
    const drawn = (await page.evaluate(`(() => {
      const chart = Chart.getChart(document.querySelector('canvas[data-chart="sizes"]'));
      return { type: chart.config.type, treatment: chart.data.datasets[0].data, width: chart.width };
    })()`)) as { type: string; treatment: number[]; width: number };
    expect(drawn.type).toBe('line');
    expect(drawn.treatment).toEqual([
      ...Object.values(EARLIER).map((s) => s.treatment),
      h.latest.counts.treatment,
    ]);
    expect(drawn.width).toBeGreaterThan(600);
    await shot('console-audience.png');
    clean();
  });

  it('audience × destination: runs, plan preview, match chart, then sync now with confirmation from the keyboard', async () => {
    await page.getByRole('link', { name: DESTINATION, exact: true }).first().click();
    expect(new URL(page.url()).pathname).toBe(`/console/audiences/${AUDIENCE}/destinations/${DESTINATION}`);
    await page.waitForFunction('document.documentElement.dataset.charts !== undefined');
    expect(await page.evaluate('document.documentElement.dataset.charts')).toBe('drawn');
    expect(await page.locator('table.runs tbody tr').count()).toBe(5);
    // One line for the platform's match rate and one per identifier type the runs carried.
    expect(
      await page.evaluate(
        "Chart.getChart(document.querySelector('#match-chart canvas')).data.datasets.map((d) => d.label)",
      ),
    ).toEqual(['platform match rate (%)', 'with email (%)', 'with phone (%)', 'with external_id (%)']);
    expect(await page.locator('dd[data-count="plan-add"]').textContent()).toBe(
      String(h.latest.counts.treatment),
    );
    await shot('console-destination.png');
    clean();

    // From the keyboard. The box must be ticked: the browser refuses the form without it.
    await tabTo('#confirm');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Sync now');
    await page.keyboard.press('Enter');
    expect(new URL(page.url()).pathname).toBe(`/console/audiences/${AUDIENCE}/destinations/${DESTINATION}`);
    // The browser refused the form and put the focus on the box.
    expect(await page.evaluate('document.activeElement.id')).toBe('confirm');
    await page.keyboard.press('Space');
    expect(await page.getByLabel(`I want to sync ${AUDIENCE} now`).isChecked()).toBe(true);
    await page.keyboard.press('Tab');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(await page.locator('.notice').textContent()).toMatch(/^Queued run refresh-/);
    await shot('console-sync-queued.png');
    clean();
  });

  /** Presses Tab until the element matching `selector` has the focus: it is reachable from the keyboard. */
  async function tabTo(selector: string, max = 60) {
    for (let i = 0; i < max; i++) {
      await page.keyboard.press('Tab');
      if (await page.evaluate(`document.activeElement?.matches(${JSON.stringify(selector)}) ?? false`))
        return;
    }
    throw new Error(`${selector} was not reached with Tab`);
  }

  it('confirms a guarded sync from the keyboard', async () => {
    await page.goto(`${base}/console/audiences/${AUDIENCE}/destinations/${DESTINATION}`);
    expect(await page.locator('#guard-h').textContent()).toBe('Confirm a guarded sync');
    expect(await page.locator('dd[data-count="blocked-remove"]').textContent()).toBe('45');
    await tabTo('#confirm_guard');
    await page.keyboard.press('Space');
    expect(await page.locator('#confirm_guard').isChecked()).toBe(true);
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.textContent')).toBe('Confirm and sync');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(await page.locator('.notice').textContent()).toMatch(/^Queued sync job sync-confirm-/);
    await shot('console-confirm-queued.png');
    clean();
  });

  it('person lookup: the form from the keyboard, membership and the explanation', async () => {
    await page.getByRole('link', { name: 'Person lookup' }).click();
    expect(new URL(page.url()).pathname).toBe('/console/people');
    await tabTo('#customer_id');
    await page.keyboard.type('canary-7');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    const row = page.locator(`tr[data-audience="${AUDIENCE}"]`);
    expect(await row.locator('td').nth(1).textContent()).toBe('yes');
    expect(await row.locator('td').nth(6).textContent()).toMatch(
      /^selected \(rank \d+ of \d+, (treatment|holdout)\)$/,
    );
    expect(await page.locator('pre.explanation').textContent()).toContain('customer canary-7 on');
    await shot('console-person.png');
    clean();
  });

  it('data health: freshness and the day profiles', async () => {
    await page.getByRole('link', { name: 'Data health' }).click();
    expect(new URL(page.url()).pathname).toBe('/console/health');
    expect(
      await page.locator(`table[data-dataset="people"] tr[data-day="${LAST_DAY}"] td`).first().textContent(),
    ).toBe('41');
    expect(await page.locator('span[data-age="events"]').textContent()).toMatch(/^\d+ min$/);
    await shot('console-health.png');
    clean();
  });

  it('lift: the stored report embedded and drawn inside its frame', async () => {
    await page.getByRole('link', { name: 'Audiences', exact: true }).click();
    await page.getByRole('link', { name: `Lift of ${AUDIENCE}` }).click();
    expect(new URL(page.url()).pathname).toBe(`/console/audiences/${AUDIENCE}/lift`);
    const frame = page.frameLocator('iframe.lift-report');
    await frame.locator('h1').waitFor();
    expect(await frame.locator('h1').textContent()).toContain(AUDIENCE);
    await shot('console-lift.png');
    clean();
  });

  it('signs out from the keyboard: the console is closed again', async () => {
    await page.goto(`${base}/console`);
    await tabTo('.sign-out button');
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    await page.goto(`${base}/console`);
    expect(new URL(page.url()).pathname).toBe('/console/sign-in');
    clean();
  });
});
