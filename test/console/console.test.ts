import { Job, Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readMembers } from '../../src/audiences/members.js';
import { CONSOLE_CSP, CONSOLE_LIFT_CSP, liftReportCsp } from '../../src/console/plugin.js';
import { createSession, SESSION_COOKIE, sessionKey } from '../../src/console/session.js';
import type { MemberRecord } from '../../src/contract/records.js';
import { profileDay } from '../../src/health/profile.js';
import { QUEUES } from '../../src/pipeline/queues.js';
import { syncStageOptions } from '../../src/pipeline/worker.js';
import { keys } from '../../src/storage/keys.js';
import { AUDIENCE, DESTINATION } from '../health/fixture.js';
import {
  ADMIN_KEY,
  ALERT_ID,
  BLOCKED_RUN,
  CANARY,
  type ConsoleHarness,
  EARLIER,
  LAST_DAY,
  SECRET,
  signIn,
  startConsoleApp,
} from './fixture.js';

/** The operator console through `inject`: access, CSRF, CSP, the numbers on each page, no PII. */
const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const TARGET = `/console/audiences/${AUDIENCE}/destinations/${DESTINATION}`;
const LIFT = `/console/audiences/${AUDIENCE}/lift`;
const LIFT_REPORT = `${LIFT}/report.html?day=${LAST_DAY}`;
const PAGES = [
  '/console',
  '/console/audiences',
  `/console/audiences/${AUDIENCE}`,
  TARGET,
  '/console/people',
  `/console/people?customer_id=${CANARY.customer_id}`,
  '/console/health',
];

describe('operator console', () => {
  let h: ConsoleHarness;
  let cookie: string;
  let csrf: string;

  beforeAll(async () => {
    h = await startConsoleApp();
    ({ cookie, csrf } = await signIn(h.app));
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  const get = (url: string, headers: Record<string, string> = {}) =>
    h.app.inject({ method: 'GET', url, headers: { cookie, ...headers } });
  const readMembersOf = async (day: string) => {
    const out: MemberRecord[] = [];
    for await (const m of readMembers(h.store, AUDIENCE, day)) out.push(m);
    return out;
  };

  describe('access', () => {
    it('serves the sign-in form without a session, under the CSP', async () => {
      const res = await h.app.inject({ method: 'GET', url: '/console/sign-in' });
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-type']).toContain('text/html');
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.body).toContain('<form method="post" action="/console/sign-in"');
    });

    it('signs in with an admin key: an HttpOnly, SameSite=Strict, expiring cookie on /console without the key', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/console/sign-in',
        headers: FORM,
        payload: form({ key: ADMIN_KEY }),
      });
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toBe('/console');
      const setCookie = String(res.headers['set-cookie']);
      const attributes = setCookie.split('; ');
      expect(attributes[0]).toMatch(new RegExp(`^${SESSION_COOKIE}=v1\\.`));
      expect(attributes).toEqual(
        expect.arrayContaining(['HttpOnly', 'SameSite=Strict', 'Path=/console', `Max-Age=${8 * 3600}`]),
      );
      expect(attributes).not.toContain('Secure');
      expect(setCookie).not.toContain(ADMIN_KEY);
      expect(setCookie).not.toContain(encodeURIComponent(ADMIN_KEY));
    });

    it('marks the cookie Secure when the request came over HTTPS (x-forwarded-proto)', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/console/sign-in',
        headers: { ...FORM, 'x-forwarded-proto': 'https' },
        payload: form({ key: ADMIN_KEY }),
      });
      expect(res.statusCode).toBe(303);
      expect(String(res.headers['set-cookie']).split('; ')).toContain('Secure');
    });

    it('refuses a wrong, empty or ingest key with 401 and no cookie', async () => {
      for (const key of ['wrong', '', 'ingest-key', `${ADMIN_KEY}x`]) {
        const res = await h.app.inject({
          method: 'POST',
          url: '/console/sign-in',
          headers: FORM,
          payload: form({ key }),
          remoteAddress: '10.1.1.1',
        });
        expect(res.statusCode).toBe(401);
        expect(res.headers['set-cookie']).toBeUndefined();
        expect(res.body).toContain('That key is not an admin key.');
        expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      }
    });

    it('rate-limits sign-in attempts per client address', async () => {
      const attempt = () =>
        h.app.inject({
          method: 'POST',
          url: '/console/sign-in',
          headers: FORM,
          payload: form({ key: 'guess' }),
          remoteAddress: '10.9.9.9',
        });
      for (let i = 0; i < 10; i++) expect((await attempt()).statusCode).toBe(401);
      const limited = await attempt();
      expect(limited.statusCode).toBe(429);
      expect(limited.headers['content-security-policy']).toBe(CONSOLE_CSP);
      // Another address is not affected.
      const other = await h.app.inject({
        method: 'POST',
        url: '/console/sign-in',
        headers: FORM,
        payload: form({ key: ADMIN_KEY }),
        remoteAddress: '10.9.9.10',
      });
      expect(other.statusCode).toBe(303);
    });

    it.each([
      ...PAGES,
      LIFT,
      LIFT_REPORT,
      '/console/nowhere',
      `/console/audiences/${AUDIENCE}?x=1`,
      '/console/assets/../audiences',
      '/console/assets/%2e%2e/audiences',
      '/console/sign-in/../audiences',
    ])('redirects %s to sign-in (303) without a valid session', async (url) => {
      const key = sessionKey(SECRET);
      const expired = createSession(key, Date.now() - 9 * 3_600_000).token;
      const forged = `${createSession(key).token.slice(0, -4)}AAAA`;
      const otherKey = createSession(Buffer.from('another-secret-another-secret-another')).token;
      for (const c of [
        undefined,
        `${SESSION_COOKIE}=${expired}`,
        `${SESSION_COOKIE}=${forged}`,
        `${SESSION_COOKIE}=${otherKey}`,
        `${SESSION_COOKIE}=${ADMIN_KEY}`,
      ]) {
        const res = await h.app.inject({ method: 'GET', url, headers: c ? { cookie: c } : {} });
        expect(res.statusCode, `${url} with ${c}`).toBe(303);
        expect(res.headers.location).toBe('/console/sign-in');
        expect(res.body).toBe('');
      }
    });

    it('answers console JSON without a session with 401 and nothing else', async () => {
      const res = await h.app.inject({ method: 'GET', url: `/console/api/audiences/${AUDIENCE}/sizes` });
      expect(res.statusCode).toBe(401);
      expect(res.json()).toEqual({
        statusCode: 401,
        error: 'unauthorized',
        message: 'sign in to the console',
      });
      const ok = await get(`/console/api/audiences/${AUDIENCE}/sizes`);
      expect(ok.statusCode).toBe(200);
      expect(ok.json().days.map((d: { day: string }) => d.day)).toEqual([...Object.keys(EARLIER), LAST_DAY]);
    });

    it('redirects a POST without a session to sign-in and queues nothing', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: `${TARGET}/sync`,
        headers: FORM,
        payload: form({ _csrf: csrf, confirm: 'yes' }),
      });
      expect(res.statusCode).toBe(303);
      expect(res.headers.location).toBe('/console/sign-in');
    });

    it('refuses a POST without, or with a wrong, CSRF token (403), and one from another origin', async () => {
      const key = sessionKey(SECRET);
      const otherSessionCsrf = (await signIn(h.app)).csrf;
      for (const payload of [
        form({ confirm: 'yes' }),
        form({ confirm: 'yes', _csrf: 'wrong' }),
        form({ confirm: 'yes', _csrf: otherSessionCsrf }),
        form({ confirm: 'yes', _csrf: '' }),
      ]) {
        const res = await h.app.inject({
          method: 'POST',
          url: `${TARGET}/sync`,
          headers: { ...FORM, cookie },
          payload,
        });
        expect(res.statusCode).toBe(403);
        expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      }
      const signOut = await h.app.inject({ method: 'POST', url: '/console/sign-out', headers: { cookie } });
      expect(signOut.statusCode).toBe(403);
      const crossSite = await h.app.inject({
        method: 'POST',
        url: '/console/sign-in',
        headers: { ...FORM, origin: 'https://evil.example' },
        payload: form({ key: ADMIN_KEY }),
      });
      expect(crossSite.statusCode).toBe(403);
      expect(crossSite.headers['set-cookie']).toBeUndefined();
      expect(key.length).toBe(SECRET.length);
    });

    it('accepts the CSRF token as an x-csrf-token header too', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: '/console/sign-out',
        headers: { cookie: (await signIn(h.app)).cookie, 'x-csrf-token': 'nope' },
      });
      expect(res.statusCode).toBe(403);
      const session = await signIn(h.app);
      const ok = await h.app.inject({
        method: 'POST',
        url: '/console/sign-out',
        headers: { cookie: session.cookie, 'x-csrf-token': session.csrf },
      });
      expect(ok.statusCode).toBe(303);
      expect(ok.headers.location).toBe('/console/sign-in');
      expect(String(ok.headers['set-cookie'])).toContain('Max-Age=0');
    });
  });

  describe('pages', () => {
    it.each(PAGES)('%s carries the CSP, no-store, and no inline script or style', async (url) => {
      const res = await get(url);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      expect(res.headers['cache-control']).toBe('no-store');
      expect(res.headers['x-frame-options']).toBeDefined();
      // Every <script> is external or a JSON data block; no style element or attribute.
      for (const tag of res.body.match(/<script[^>]*>/g) ?? []) {
        expect(tag).toMatch(/src="\/console\/assets\/[a-z.]+\.js"|type="application\/json"/);
      }
      expect(res.body).not.toMatch(/<style|\sstyle=|\son[a-z]+=/i);
    });

    it('serves its assets from this server with the CSP, without a session', async () => {
      for (const [name, type] of [
        ['console.js', 'text/javascript'],
        ['console.css', 'text/css'],
        ['chart.umd.min.js', 'text/javascript'],
      ] as const) {
        const res = await h.app.inject({ method: 'GET', url: `/console/assets/${name}` });
        expect(res.statusCode, name).toBe(200);
        expect(res.headers['content-type']).toContain(type);
        expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      }
      expect((await h.app.inject({ method: 'GET', url: '/console/assets/nothing.js' })).statusCode).toBe(404);
      expect((await h.app.inject({ method: 'GET', url: '/console/assets/..%2Fplugin.ts' })).statusCode).toBe(
        404,
      );
    });

    it('overview: each day with stage status and duration, and the open alert with what to do', async () => {
      const res = await get('/console');
      const body = res.body;
      for (const day of [...Object.keys(EARLIER), LAST_DAY])
        expect(body).toContain(`<h3 id="day-${day}">${day}</h3>`);
      // The failed sync of the day before, and a completed one with its 70 ms total.
      expect(body).toContain('<span class="status status-failed">failed</span>');
      expect(body).toContain('+3 −2, 3 requests, auth');
      expect(body).toContain('70 ms');
      // Export and compaction of the last day, from its raw partitions and compaction manifests.
      expect(body).toMatch(
        /<th scope="row">export<\/th><td><span class="status status-done">done<\/span><\/td><td class="num">—<\/td><td>2 parts \(events 1, people 1\)<\/td>/,
      );
      expect(body).toMatch(
        /<th scope="row">compact<\/th><td><span class="status status-done">done<\/span><\/td><td class="num">\d[^<]*s<\/td><td>2 of 2 datasets as Parquet, 82 rows, 0 malformed lines<\/td>/,
      );
      expect(body).toContain(`${EARLIER[Object.keys(EARLIER)[0]!]!.treatment} treatment`);
      expect(body).toContain(`<code>${ALERT_ID}</code>`);
      expect(body).toContain('What to do: Read the run record');
      // Resolved alerts are not open.
      expect(body).not.toContain('freshness:people');
    });

    it('audiences: latest treatment and holdout from the last manifest', async () => {
      const body = (await get('/console/audiences')).body;
      expect(body).toContain(`<a href="/console/audiences/${AUDIENCE}">${AUDIENCE}</a>`);
      expect(body).toContain(`<td class="num">${h.latest.counts.treatment.toLocaleString('en-US')}</td>`);
      expect(body).toContain(`<td class="num">${h.latest.counts.holdout.toLocaleString('en-US')}</td>`);
      expect(body).toContain(`href="${TARGET}"`);
    });

    it('audience: the size chart data, the last manifest and the definition', async () => {
      const body = (await get(`/console/audiences/${AUDIENCE}`)).body;
      const json = /<script type="application\/json" id="sizes-data">(.*?)<\/script>/.exec(body)?.[1];
      expect(JSON.parse(json!)).toEqual({
        labels: [...Object.keys(EARLIER), LAST_DAY],
        treatment: [...Object.values(EARLIER).map((s) => s.treatment), h.latest.counts.treatment],
        holdout: [...Object.values(EARLIER).map((s) => s.holdout), h.latest.counts.holdout],
      });
      expect(body).toContain('<script src="/console/assets/chart.umd.min.js" defer></script>');
      expect(h.latest.counts.matched).toBe(41);
      expect(body).toContain(`<dd data-count="matched">41</dd>`);
      expect(body).toContain(`<dd data-count="eligible">${h.latest.counts.eligible}</dd>`);
      expect(body).toContain(`<dd data-count="treatment">${h.latest.counts.treatment}</dd>`);
      expect(body).toContain(`<dd data-count="holdout">${h.latest.counts.holdout}</dd>`);
      expect(body).toContain(`<dd data-count="malformed">0</dd>`);
      expect(body).toContain('event: checkout_started');
      expect(body).toContain('People who started a checkout in the last week');
    });

    it('audience × destination: runs, rejections, resumed batches, match rates and the plan preview', async () => {
      const body = (await get(TARGET)).body;
      expect(body.match(/<tr>\n<th scope="row"><code>2026-03-0\d(-2)?<\/code><\/th>/g)).toHaveLength(5);
      expect(body).toContain('<span class="status status-blocked">blocked</span>');
      expect(body).toContain('<code>2650</code></th><td class="num">7</td>');
      expect(body).toContain('<td><code>c0042</code></td><td>add</td><td>2650</td><td>invalid row</td>');
      expect(body).toContain('1 (1 batch resent)');
      expect(body).toContain('<span class="error-kind">auth 190</span>');
      const match = /<script type="application\/json" id="match-data">(.*?)<\/script>/.exec(body)?.[1];
      expect(JSON.parse(match!)).toEqual({
        labels: ['2026-03-06', '2026-03-07', '2026-03-09'],
        rate: [61, 58, 64],
        types: { email: [90, 82, 90], phone: [70, 70, 70], external_id: [100, 100, 100] },
      });
      // The same numbers as a table, per identifier type and run.
      expect(body).toContain(
        '<th scope="col">With email</th><th scope="col">With phone</th><th scope="col">With external_id</th>',
      );
      expect(body).toMatch(
        /<code>2026-03-07<\/code><\/th><td>2026-03-07<\/td><td class="num">100<\/td><td class="num" data-coverage="email">82\.0\s?%<\/td>/,
      );
      // No ledger yet: the plan adds every treatment member that has an identifier.
      expect(body).toContain(`<dd data-count="plan-add">${h.latest.counts.treatment}</dd>`);
      expect(body).toContain('<dd data-count="plan-remove">0</dd>');
      expect(body).toMatch(/name="confirm" value="yes" required/);
    });

    it('an unknown audience or destination is a 404 page, not a leak', async () => {
      for (const url of [
        '/console/audiences/nope',
        `/console/audiences/${AUDIENCE}/destinations/tiktok`,
        '/console/audiences/%3Cscript%3E',
      ]) {
        const res = await get(url);
        expect(res.statusCode).toBe(404);
        expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
        expect(res.body).not.toContain('<script>');
      }
    });
  });

  describe('sync now', () => {
    it('without the confirmation box queues nothing', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: `${TARGET}/sync`,
        headers: { ...FORM, cookie },
        payload: form({ _csrf: csrf }),
      });
      expect(res.statusCode).toBe(400);
      expect(res.body).toContain('Nothing was queued');
      const queue = new Queue(QUEUES.refresh, { connection: h.queueRedis, prefix: h.prefix });
      expect(await queue.getJobCounts()).toMatchObject({ waiting: 0, 'waiting-children': 0 });
      await queue.close();
    });

    it('with CSRF and confirmation enqueues the audience refresh the admin API enqueues', async () => {
      const res = await h.app.inject({
        method: 'POST',
        url: `${TARGET}/sync`,
        headers: { ...FORM, cookie },
        payload: form({ _csrf: csrf, confirm: 'yes' }),
      });
      expect(res.statusCode).toBe(202);
      const runId = /Queued run (refresh-[^ ]+) for/.exec(res.body)?.[1];
      expect(runId).toMatch(new RegExp(`^refresh-\\d{4}-\\d{2}-\\d{2}-${AUDIENCE}-`));
      const queue = new Queue(QUEUES.refresh, { connection: h.queueRedis, prefix: h.prefix });
      const job = await Job.fromId(queue, runId!);
      expect(job?.data).toMatchObject({ audienceIds: [AUDIENCE] });
      await queue.close();
    });
  });

  describe('confirm a guarded sync', () => {
    const CONFIRM = `${TARGET}/confirm`;
    const syncQueue = () =>
      new Queue(QUEUES.sync(DESTINATION), { connection: h.queueRedis, prefix: h.prefix });
    const queuedSyncs = async () => {
      const queue = syncQueue();
      const counts = await queue.getJobCounts();
      await queue.close();
      return Object.values(counts).reduce((a, b) => a + b, 0);
    };
    const post = (fields: Record<string, string>, headers: Record<string, string> = {}) =>
      h.app.inject({
        method: 'POST',
        url: CONFIRM,
        headers: { ...FORM, cookie, ...headers },
        payload: form(fields),
      });

    it('shows the guard message and a confirmation form when the latest run is blocked', async () => {
      const body = (await get(TARGET)).body;
      expect(body).toContain('<h2 id="guard-h">Confirm a guarded sync</h2>');
      expect(body).toContain(`<li><strong>remove_share</strong>: ${BLOCKED_RUN.guards[0]!.message}</li>`);
      expect(body).toContain('<dd data-count="blocked-remove">45</dd>');
      expect(body).toContain(`<form method="post" action="${CONFIRM}" class="card">`);
      expect(body).toContain(`<input type="hidden" name="run_id" value="${BLOCKED_RUN.runId}">`);
      expect(body).toMatch(
        /<input type="checkbox" id="confirm_guard" name="confirm_guard" value="yes" required> <label for="confirm_guard">/,
      );
      // The form comes before the plan preview and "sync now": first in the keyboard order.
      expect(body.indexOf('id="confirm_guard"')).toBeLessThan(body.indexOf('id="confirm"'));
    });

    it('refuses a POST without, or with a wrong, CSRF token (403) and queues nothing', async () => {
      const cases: Record<string, string>[] = [
        { confirm_guard: 'yes', run_id: BLOCKED_RUN.runId },
        { confirm_guard: 'yes', run_id: BLOCKED_RUN.runId, _csrf: 'wrong' },
      ];
      for (const fields of cases) {
        const res = await post(fields);
        expect(res.statusCode).toBe(403);
        expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      }
      expect(await queuedSyncs()).toBe(0);
    });

    it('queues nothing without the confirmation box (400) or for a run that is no longer the latest (409)', async () => {
      const unticked = await post({ _csrf: csrf, run_id: BLOCKED_RUN.runId });
      expect(unticked.statusCode).toBe(400);
      expect(unticked.body).toContain('tick the confirmation box to confirm the guarded sync');
      const stale = await post({ _csrf: csrf, run_id: LAST_DAY, confirm_guard: 'yes' });
      expect(stale.statusCode).toBe(409);
      expect(stale.body).toContain('no longer the guarded run');
      expect(await queuedSyncs()).toBe(0);
    });

    it("with CSRF and confirmation queues that destination's sync of the blocked day with confirm, once", async () => {
      const res = await post({ _csrf: csrf, run_id: BLOCKED_RUN.runId, confirm_guard: 'yes' });
      expect(res.statusCode).toBe(202);
      const jobId = /Queued sync job ([^:]+):/.exec(res.body)?.[1];
      expect(jobId).toBe(`sync-confirm-${BLOCKED_RUN.runId}-${AUDIENCE}-${DESTINATION}-audience`);
      const queue = syncQueue();
      const job = await Job.fromId(queue, jobId!);
      // A new attempt of the blocked run's base id (the day), for the day the guard judged.
      expect(job?.name).toBe('sync');
      expect(job?.data).toEqual({
        day: LAST_DAY,
        audienceId: AUDIENCE,
        destination: DESTINATION,
        kind: 'audience',
        runId: LAST_DAY,
        confirm: true,
      });
      expect(job?.opts.attempts).toBe(5);
      await queue.close();
      // The same blocked run confirmed again (a double submit) adds nothing.
      const again = await post({ _csrf: csrf, run_id: BLOCKED_RUN.runId, confirm_guard: 'yes' });
      expect(again.statusCode).toBe(202);
      expect(again.body).toContain('was already queued; nothing was added');
      expect(await queuedSyncs()).toBe(1);
    });

    it("the sync worker hands the job's confirm to the sync stage, and only then", () => {
      const data = {
        day: LAST_DAY,
        audienceId: AUDIENCE,
        destination: DESTINATION,
        kind: 'audience' as const,
        runId: LAST_DAY,
      };
      expect(syncStageOptions({ ...data, confirm: true })).toMatchObject({
        confirm: true,
        runId: LAST_DAY,
        day: LAST_DAY,
      });
      expect(syncStageOptions(data)).not.toHaveProperty('confirm');
    });
  });

  describe('person lookup', () => {
    it('without an id: the lookup form, labelled, in the navigation', async () => {
      const res = await get('/console/people');
      expect(res.statusCode).toBe(200);
      expect(res.body).toContain('<a href="/console/people" aria-current="page">Person lookup</a>');
      expect(res.body).toContain('<label for="customer_id">Customer id</label>');
      expect(res.body).toMatch(
        /<form method="get" action="\/console\/people" class="card lookup" role="search">/,
      );
      expect(res.body).not.toContain('id="member-h"');
    });

    it("a member: group, rank and score from the latest members, and the engine's explanation", async () => {
      const res = await get(`/console/people?customer_id=${CANARY.customer_id}`);
      expect(res.statusCode).toBe(200);
      const body = res.body;
      const members = await readMembersOf(LAST_DAY);
      const line = members.find((m) => m.customer_id === CANARY.customer_id)!;
      expect(line).toBeDefined();
      const row = new RegExp(`<tr data-audience="${AUDIENCE}">([\\s\\S]*?)</tr>`).exec(body)?.[1];
      expect(row).toContain(`<td>${LAST_DAY}</td><td>yes</td>`);
      expect(row).toContain(`<td>${line.group}</td><td class="num">${line.rank}</td>`);
      expect(row).toContain(`<td class="num">${line.score}</td>`);
      expect(row).toContain(`selected (rank ${line.rank} of ${h.latest.counts.selected}, ${line.group})`);
      expect(body).toContain(`<h2 id="why-h">Why (explanation for ${LAST_DAY})</h2>`);
      expect(body).toContain(`customer ${CANARY.customer_id} on ${LAST_DAY}: in the people snapshot`);
      expect(body).toMatch(
        /✓ event checkout_started in 2026-03-0\d\.\.2026-03-09 \(7 days\): 1 seen, min_count 1/,
      );
      expect(body).toContain('score 1:');
    });

    it('an unknown id: not a member anywhere, and the engine says it is not in the snapshot', async () => {
      const body = (await get('/console/people?customer_id=nobody-here')).body;
      expect(body).toContain('<td>no</td>');
      expect(body).toContain(`not in the people snapshot of ${LAST_DAY} and has no records there`);
      expect(body).not.toContain('id="why-h"');
    });

    it('escapes the id it echoes', async () => {
      const body = (await get(`/console/people?customer_id=${encodeURIComponent('<b>x</b>')}`)).body;
      expect(body).toContain('&lt;b&gt;x&lt;/b&gt;');
      expect(body).not.toContain('<b>x</b>');
    });
  });

  describe('data health', () => {
    it('freshness, volume and quarantine per dataset and day, from the health profiles', async () => {
      const res = await get('/console/health');
      expect(res.statusCode).toBe(200);
      const body = res.body;
      expect(body).toContain('<a href="/console/health" aria-current="page">Data health</a>');
      // Today's parts arrived 5 minutes before the fixture ran.
      for (const dataset of ['events', 'messages', 'people']) {
        expect(body).toContain(`<h2 id="ds-${dataset}-h">${dataset}</h2>`);
        expect(body).toMatch(new RegExp(`<span data-age="${dataset}">\\d+ min</span> ago`));
      }
      expect(body).toContain('<span class="status status-fresh">fresh</span>');
      const people = await profileDay(h.store, 'people', LAST_DAY, { persist: false });
      expect(people.profile.records).toBe(41);
      expect(people.profile.reasons).toEqual({ bad_phone: 1 });
      const row = new RegExp(
        `<table class="health" data-dataset="people">[\\s\\S]*?<tr data-day="${LAST_DAY}">([\\s\\S]*?)</tr>`,
      ).exec(body)?.[1];
      expect(row).toContain(
        `<th scope="row">${LAST_DAY}</th><td class="num">41</td><td class="num">0</td><td class="num">1</td><td class="num">0</td><td class="num">2.4%</td>`,
      );
      expect(row).toContain('<li><code>bad_phone</code> 1</li>');
      const events = new RegExp(
        `<table class="health" data-dataset="events">[\\s\\S]*?<tr data-day="${LAST_DAY}">([\\s\\S]*?)</tr>`,
      ).exec(body)?.[1];
      expect(events).toContain('<td class="num">41</td>');
      // Messages have raw parts today but no profile.
      expect(body).toContain('No day profile yet');
      expect(body).toContain('No data alert is firing.');
      // Never the quarantined record, nor the reason's message (it quotes the value).
      expect(body).not.toContain('not a phone number');
      expect(body).not.toContain('"record"');
    });
  });

  describe('lift', () => {
    it('the audiences list and the audience page link to the lift of an audience with a holdout', async () => {
      expect((await get('/console/audiences')).body).toContain(`<a href="${LIFT}">Lift of ${AUDIENCE}</a>`);
      expect((await get(`/console/audiences/${AUDIENCE}`)).body).toContain(
        `<a href="${LIFT}">Lift report</a>`,
      );
    });

    it("shows the stored report's headline and groups, and frames the report (frame-src 'self' on this page only)", async () => {
      const stored = JSON.parse(
        (await h.store.get(keys.liftReport(AUDIENCE, LAST_DAY, 'json'))).toString('utf8'),
      );
      const res = await get(LIFT);
      expect(res.statusCode).toBe(200);
      expect(res.headers['content-security-policy']).toBe(CONSOLE_LIFT_CSP);
      expect(CONSOLE_LIFT_CSP).toBe(`${CONSOLE_CSP}; frame-src 'self'`);
      const body = res.body;
      expect(body).toContain(`<h2 id="lift-summary-h">As of ${LAST_DAY}</h2>`);
      expect(body).toContain(`<p class="headline">${stored.headline}</p>`);
      expect(stored.pending.treatment).toBeGreaterThan(0);
      expect(body).toContain(
        `<td class="num" data-count="pending-treatment">${stored.pending.treatment}</td>`,
      );
      expect(body).toContain(`<td class="num" data-count="pending-holdout">${stored.pending.holdout}</td>`);
      expect(body).toContain(
        `<iframe class="lift-report" src="${LIFT_REPORT}" title="Lift report of ${AUDIENCE} as of ${LAST_DAY}"></iframe>`,
      );
      for (const tag of body.match(/<script[^>]*>/g) ?? []) expect(tag).toMatch(/src="\/console\/assets\//);
    });

    it('serves the stored HTML report under its own policy: its scripts by hash, framed by the console only', async () => {
      const stored = (await h.store.get(keys.liftReport(AUDIENCE, LAST_DAY, 'html'))).toString('utf8');
      const res = await get(LIFT_REPORT);
      expect(res.statusCode).toBe(200);
      expect(res.body).toBe(stored);
      const csp = String(res.headers['content-security-policy']);
      expect(csp).toBe(liftReportCsp(stored));
      expect(csp).toContain("frame-ancestors 'self'");
      expect(csp).not.toContain("unsafe-inline'; script");
      expect(res.headers['x-frame-options']).toBe('SAMEORIGIN');
      // The header allows exactly the scripts the report's own <meta> policy allows.
      const meta = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(stored)?.[1];
      const scriptSrc = (policy: string) => /script-src ([^;]+)/.exec(policy)?.[1]?.split(' ').sort();
      expect(scriptSrc(csp)).toEqual(scriptSrc(meta!.replaceAll('&#39;', "'")));
      expect(scriptSrc(csp)!.length).toBeGreaterThan(0);
    });

    it('404s an unknown audience, a bad day and a day without a report', async () => {
      for (const url of [
        '/console/audiences/nope/lift',
        `${LIFT}?day=yesterday`,
        `${LIFT}/report.html?day=2020-01-01`,
        '/console/audiences/nope/lift/report.html',
      ]) {
        const res = await get(url);
        expect(res.statusCode, url).toBe(404);
        expect(res.headers['content-security-policy']).toBe(CONSOLE_CSP);
      }
    });
  });

  it('never shows an email, phone or name: PII canary over every page and JSON answer', async () => {
    const urls = [
      ...PAGES,
      LIFT,
      LIFT_REPORT,
      `/console/api/audiences/${AUDIENCE}/sizes`,
      '/console/sign-in',
      '/console/nowhere',
    ];
    const bodies = await Promise.all(urls.map(async (url) => (await get(url)).body));
    const confirm = await h.app.inject({
      method: 'POST',
      url: `${TARGET}/sync`,
      headers: { ...FORM, cookie },
      payload: form({ _csrf: csrf }),
    });
    bodies.push(confirm.body);
    const guarded = await h.app.inject({
      method: 'POST',
      url: `${TARGET}/confirm`,
      headers: { ...FORM, cookie },
      payload: form({ _csrf: csrf, run_id: 'nope' }),
    });
    bodies.push(guarded.body);
    const needles = [
      CANARY.email,
      CANARY.email.split('@')[0]!,
      CANARY.phone,
      CANARY.phone.slice(2),
      CANARY.first_name,
      'person1@example.com',
      '@example.',
    ];
    for (const [i, body] of bodies.entries()) {
      for (const needle of needles)
        expect(body, `${urls[i] ?? 'confirm page'} contains ${needle}`).not.toContain(needle);
    }
    // The canary is in the audience (its customer id may show), so the check is not vacuous.
    expect(h.latest.counts.matched).toBeGreaterThan(40);
  });
});

describe('operator console without a queue', () => {
  let h: ConsoleHarness;
  beforeAll(async () => {
    h = await startConsoleApp({ pipeline: false });
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it('offers no "sync now" and refuses one with 503', async () => {
    const { cookie, csrf } = await signIn(h.app);
    const page = await h.app.inject({ method: 'GET', url: TARGET, headers: { cookie } });
    expect(page.body).toContain('needs the queue');
    const res = await h.app.inject({
      method: 'POST',
      url: `${TARGET}/sync`,
      headers: { ...FORM, cookie },
      payload: form({ _csrf: csrf, confirm: 'yes' }),
    });
    expect(res.statusCode).toBe(503);
  });

  it('offers no "confirm a guarded sync" form (the CLI command instead) and refuses one with 503', async () => {
    const { cookie, csrf } = await signIn(h.app);
    const page = await h.app.inject({ method: 'GET', url: TARGET, headers: { cookie } });
    expect(page.body).toContain('Confirm a guarded sync');
    expect(page.body).not.toContain('id="confirm_guard"');
    expect(page.body).toContain(
      `audience-sync sync --audience ${AUDIENCE} --destination ${DESTINATION} --confirm`,
    );
    const res = await h.app.inject({
      method: 'POST',
      url: `${TARGET}/confirm`,
      headers: { ...FORM, cookie },
      payload: form({ _csrf: csrf, run_id: BLOCKED_RUN.runId, confirm_guard: 'yes' }),
    });
    expect(res.statusCode).toBe(503);
  });
});

describe('operator console is part of the operator surface only', () => {
  it('is absent (404 JSON) when the app serves ingest only', async () => {
    const { buildApp } = await import('../../src/api/app.js');
    const { parseEnv } = await import('../../src/config/env.js');
    const { createLogger } = await import('../../src/log.js');
    const { createFsTestStore } = await import('../helpers/stores.js');
    const { testRedis } = await import('../ingest/harness.js');
    const t = await createFsTestStore();
    const redis = testRedis();
    const app = await buildApp({
      env: parseEnv({ ADMIN_API_KEYS: ADMIN_KEY }),
      store: t.store,
      redis,
      logger: createLogger({ level: 'silent' }),
    });
    const res = await app.inject({ method: 'GET', url: '/console/sign-in' });
    expect(res.statusCode).toBe(404);
    await app.close();
    redis.disconnect();
    await t.cleanup();
  });
});
