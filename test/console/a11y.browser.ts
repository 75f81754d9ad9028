import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AUDIENCE, DESTINATION } from '../health/fixture.js';
import { ADMIN_KEY, CANARY, type ConsoleHarness, startConsoleApp } from './fixture.js';

/**
 * Accessibility of every console page: signed in, the test follows every link under /console it
 * finds (so pages added later are checked too) and runs axe-core on each, failing on any serious
 * or critical violation. axe is loaded into the page by the test, so this browser context bypasses
 * the console's Content-Security-Policy (console.browser.ts checks the CSP itself).
 */
const CHROMIUM = '/usr/bin/chromium';
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** Enough for every page of the fixture; a crawl that finds more is cut here and says so. */
const MAX_PAGES = 40;

interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: string[] }[];
}

describe('console accessibility (axe-core in Chromium)', () => {
  let h: ConsoleHarness;
  let browser: Browser;
  let page: Page;
  let base: string;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium package`);
    h = await startConsoleApp();
    base = await h.app.listen({ port: 0, host: '127.0.0.1' });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    page = await (await browser.newContext({ bypassCSP: true })).newPage();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  async function violations(): Promise<AxeViolation[]> {
    await page.evaluate(AXE_SOURCE);
    const result = (await page.evaluate('axe.run(document, { resultTypes: ["violations"] })')) as {
      violations: AxeViolation[];
    };
    return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  }

  it('has no serious or critical violations on sign-in or on any page reachable from the console', async () => {
    await page.goto(`${base}/console/sign-in`);
    const found: Record<string, string[]> = {};
    const report = (path: string, list: AxeViolation[]) => {
      if (list.length > 0)
        found[path] = list.map(
          (v) => `${v.impact} ${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`,
        );
    };
    report('/console/sign-in', await violations());

    await page.locator('#key').fill(ADMIN_KEY);
    await Promise.all([page.waitForNavigation(), page.keyboard.press('Enter')]);
    // A lookup result is reached through a form, not a link: it starts the crawl too.
    const queue = ['/console', `/console/people?customer_id=${CANARY.customer_id}`];
    const seen = new Set(queue);
    while (queue.length > 0 && seen.size <= MAX_PAGES) {
      const path = queue.shift()!;
      const response = await page.goto(`${base}${path}`);
      expect(response?.status(), path).toBe(200);
      report(path, await violations());
      const links = await page.$$eval('a[href]', (as) =>
        as.map((a) => (a as unknown as { href: string }).href),
      );
      for (const href of links) {
        const url = new URL(href);
        if (
          url.origin !== base ||
          !url.pathname.startsWith('/console') ||
          url.pathname.startsWith('/console/assets')
        )
          continue;
        const next = url.pathname + url.search;
        if (!seen.has(next)) {
          seen.add(next);
          queue.push(next);
        }
      }
    }
    expect(seen.size, 'the crawl found more pages than it visits').toBeLessThanOrEqual(MAX_PAGES);
    // Every kind of page was checked.
    for (const path of [
      '/console',
      '/console/audiences',
      `/console/audiences/${AUDIENCE}`,
      `/console/audiences/${AUDIENCE}/destinations/${DESTINATION}`,
      `/console/audiences/${AUDIENCE}/lift`,
      '/console/health',
      '/console/people',
      `/console/people?customer_id=${CANARY.customer_id}`,
    ]) {
      expect(seen.has(path), path).toBe(true);
    }
    expect(found).toEqual({});
  });
});
