import { readFile } from 'node:fs/promises';
import type { FastifyError, FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { bearerKeyMatcher } from '../api/plugins/auth.js';
import type { AudienceDefinition } from '../audiences/config.js';
import { type Explanation, explainPerson, PersonNotFoundError } from '../audiences/explain.js';
import type { LoadedConfig } from '../config/load-config.js';
import type { AudienceSyncConfig } from '../config-file.js';
import { log } from '../log.js';
import { chartJsSource, scriptHashSource } from '../measure/charts.js';
import { readLiftReport } from '../measure/report.js';
import { enqueueConfirmedSync, enqueueRefresh, type PipelineConnection } from '../pipeline/flow.js';
import { planTarget } from '../pipeline/plan-report.js';
import { lastCompleteDayIn } from '../pipeline/stages.js';
import { syncTargets } from '../pipeline/targets.js';
import { keys } from '../storage/keys.js';
import type { SyncRunRecord } from '../sync/run-record.js';
import { parseRunKey } from '../sync/runs.js';
import {
  dataHealth,
  findAudience,
  membershipsOf,
  openAlerts,
  refreshHistory,
  runHistory,
  sizeHistory,
} from './data.js';
import {
  audiencePage,
  audiencesPage,
  confirmQueuedPage,
  errorPage,
  healthPage,
  liftPage,
  overviewPage,
  type PlanPreview,
  peoplePage,
  signInPage,
  syncQueuedPage,
  targetPage,
} from './pages.js';
import {
  clearedSessionCookie,
  createSession,
  csrfToken,
  readCookie,
  SESSION_COOKIE,
  SESSION_TTL_MS,
  type Session,
  sessionCookie,
  sessionKey,
  verifyCsrf,
  verifySession,
} from './session.js';

/**
 * The operator console at `/console` (docs/operations.md#console): server-rendered pages over the
 * store, behind a session that an admin key opens. Registered by `buildApp` only with the
 * operator surface. Every response carries a strict Content-Security-Policy; every asset is
 * served from here; every POST needs the session's CSRF token.
 */
export interface ConsoleOptions {
  loadConfig: () => Promise<LoadedConfig<AudienceSyncConfig>>;
  /** The queue; without it "sync now" is not offered. */
  pipeline?: PipelineConnection;
  /** Sign-in attempts per minute per client address (default 10). */
  signInPerMinute?: number;
}

export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** The lift page only: the console policy plus frames from this server (the embedded report). */
export const CONSOLE_LIFT_CSP = `${CONSOLE_CSP}; frame-src 'self'`;

/**
 * The stored lift report, served to the console's frame: the report's own policy (its inline
 * scripts by hash, its inline styles, no network) with `frame-ancestors 'self'`, so only console
 * pages can frame it. The report's `<meta>` policy applies as well.
 */
export function liftReportCsp(reportHtml: string): string {
  const hashes = [...reportHtml.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) =>
    scriptHashSource(m[1]!),
  );
  return [
    "default-src 'none'",
    `script-src ${hashes.length > 0 ? hashes.join(' ') : "'none'"}`,
    "style-src 'unsafe-inline'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'self'",
  ].join('; ');
}

const ID_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const DAY_RE = /^\d{4}-\d{2}-\d{2}$/;

/** Own assets, read once from `assets/` next to this module (copied into dist/ by `npm run build`). */
const OWN_ASSETS: Record<string, string> = {
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};
const assetCache = new Map<string, string>();
async function ownAsset(name: string): Promise<string> {
  let text = assetCache.get(name);
  if (text === undefined) {
    text = await readFile(new URL(`./assets/${name}`, import.meta.url), 'utf8');
    assetCache.set(name, text);
  }
  return text;
}

function sameHost(origin: string, host: string | undefined): boolean {
  try {
    return host !== undefined && new URL(origin).host === host;
  } catch {
    return false;
  }
}

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession?: Session;
  }
}

type Form = Record<string, string>;

export const consolePlugin: FastifyPluginAsync<ConsoleOptions> = async (app, options) => {
  const key = sessionKey(app.env.CONSOLE_SESSION_SECRET);
  const adminKeys = app.env.ADMIN_API_KEYS;
  const matches = bearerKeyMatcher(adminKeys);
  app.decorateRequest('consoleSession', undefined);

  // Forms post application/x-www-form-urlencoded; parsed here only (this plugin is encapsulated).
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 16_384 },
    (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );

  // Judged by the route that matched, not by the raw URL: `/console/assets/../audiences` matches no
  // public route, so it is not public.
  const PUBLIC_ROUTES = new Set(['/console/sign-in', '/console/assets/:name']);
  const isPublic = (request: FastifyRequest) => PUBLIC_ROUTES.has(request.routeOptions.url ?? '');
  const wantsJson = (url: string) => url.startsWith('/console/api/');

  /** The session of a request, or undefined. */
  const sessionOf = (request: FastifyRequest) =>
    verifySession(key, readCookie(request.headers.cookie, SESSION_COOKIE));

  /**
   * Adding `Secure` only ever tightens the cookie, so a forwarded `https` is believed here even
   * without trustProxy (request.protocol honours x-forwarded-proto only when the app trusts proxies).
   */
  const isHttps = (request: FastifyRequest) => {
    if (request.protocol === 'https') return true;
    const forwarded = request.headers['x-forwarded-proto'];
    const first = (Array.isArray(forwarded) ? forwarded[0] : forwarded)?.split(',')[0]?.trim();
    return first === 'https';
  };

  const refuse = (request: FastifyRequest, reply: FastifyReply) => {
    if (wantsJson(request.url)) {
      return reply
        .code(401)
        .type('application/json; charset=utf-8')
        .send(JSON.stringify({ statusCode: 401, error: 'unauthorized', message: 'sign in to the console' }));
    }
    return reply.code(303).header('location', '/console/sign-in').send();
  };

  app.addHook('onRequest', async (request, reply) => {
    if (isPublic(request)) return;
    const session = sessionOf(request);
    if (!session) return refuse(request, reply);
    request.consoleSession = session;
  });

  // State-changing requests carry the session's CSRF token (form field or header); checked before
  // the handler, after the body is parsed.
  app.addHook('preHandler', async (request, reply) => {
    if (request.method !== 'POST') return;
    // A browser names the page a form came from: another site's form is refused outright, sign-in
    // included (which has no session, hence no token, yet).
    const origin = request.headers.origin;
    if (typeof origin === 'string' && origin !== 'null' && !sameHost(origin, request.headers.host)) {
      return reply
        .code(403)
        .type('text/html; charset=utf-8')
        .send(errorPage(403, 'Cross-site request refused.'));
    }
    if (!request.consoleSession) return;
    const form = (request.body ?? {}) as Form;
    const candidate = request.headers['x-csrf-token'] ?? form._csrf;
    if (!verifyCsrf(key, request.consoleSession, candidate)) {
      return reply
        .code(403)
        .type('text/html; charset=utf-8')
        .send(
          errorPage(
            403,
            'This form has expired or did not come from the console. Reload the page and try again.',
          ),
        );
    }
  });

  app.addHook('onSend', async (_request, reply, payload) => {
    // Two routes set their own policy just before sending (the lift page and its framed report);
    // every other response gets the console's.
    if (!reply.getHeader('content-security-policy')) reply.header('content-security-policy', CONSOLE_CSP);
    reply.header('referrer-policy', 'no-referrer');
    if (!reply.getHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  const csrfOf = (request: FastifyRequest) => csrfToken(key, request.consoleSession!);
  const sendHtml = (reply: FastifyReply, body: string, status = 200) =>
    reply.code(status).type('text/html; charset=utf-8').send(body);

  app.setErrorHandler((error: FastifyError, request, reply) => {
    const status =
      error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status === 429) {
      reply.header('retry-after', '60');
      return sendHtml(reply, signInPageWith('Too many sign-in attempts. Wait a minute and try again.'), 429);
    }
    if (status >= 500) {
      // Only the type and code: messages of unexpected errors may quote data.
      request.log.error({ errorType: error.name, code: error.code }, 'console error');
    }
    const message =
      status >= 500 ? 'The console could not read this page. See the server log.' : 'Bad request.';
    if (wantsJson(request.url)) {
      return reply.code(status).send({ statusCode: status, error: 'error', message });
    }
    return sendHtml(
      reply,
      errorPage(status, message, request.consoleSession ? csrfOf(request) : undefined),
      status,
    );
  });

  app.setNotFoundHandler((request, reply) => {
    const session = sessionOf(request);
    if (!session && !request.url.startsWith('/console/assets/')) return refuse(request, reply);
    return sendHtml(
      reply,
      errorPage(404, 'There is no console page here.', session ? csrfToken(key, session) : undefined),
      404,
    );
  });

  const signInPageWith = (error?: string) => signInPage(error ? { error } : {});

  // --- access -------------------------------------------------------------------------------

  app.get('/sign-in', async (request, reply) => {
    if (sessionOf(request)) return reply.code(303).header('location', '/console').send();
    return sendHtml(reply, signInPageWith());
  });

  app.post(
    '/sign-in',
    {
      config: {
        rateLimit: {
          max: options.signInPerMinute ?? 10,
          timeWindow: '1 minute',
          keyGenerator: (request: FastifyRequest) => request.ip,
        },
      },
    },
    async (request, reply) => {
      const form = (request.body ?? {}) as Form;
      const candidate = typeof form.key === 'string' ? form.key : '';
      if (adminKeys.length === 0 || candidate === '' || !matches(candidate)) {
        request.log.warn({ ip: request.ip }, 'console sign-in refused');
        return sendHtml(reply, signInPageWith('That key is not an admin key.'), 401);
      }
      const { token } = createSession(key);
      return reply
        .code(303)
        .header(
          'set-cookie',
          sessionCookie(token, { secure: isHttps(request), maxAgeSeconds: SESSION_TTL_MS / 1000 }),
        )
        .header('location', '/console')
        .send();
    },
  );

  app.post('/sign-out', async (request, reply) =>
    reply
      .code(303)
      .header('set-cookie', clearedSessionCookie(isHttps(request)))
      .header('location', '/console/sign-in')
      .send(),
  );

  // --- assets -------------------------------------------------------------------------------

  app.get('/assets/:name', async (request, reply) => {
    const { name } = request.params as { name: string };
    const cache = 'public, max-age=300';
    if (name === 'chart.umd.min.js') {
      return reply
        .header('cache-control', cache)
        .type('text/javascript; charset=utf-8')
        .send(chartJsSource());
    }
    const type = OWN_ASSETS[name];
    if (!type) return sendHtml(reply, errorPage(404, 'No such asset.'), 404);
    return reply
      .header('cache-control', cache)
      .type(type)
      .send(await ownAsset(name));
  });

  // --- pages --------------------------------------------------------------------------------

  const loadConfig = async () => (await options.loadConfig()).config;

  app.get('/', async (request, reply) => {
    const config = await loadConfig();
    const [history, alerts] = await Promise.all([refreshHistory(app.store, config), openAlerts(app.store)]);
    return sendHtml(reply, overviewPage(csrfOf(request), history, alerts));
  });

  app.get('/audiences', async (request, reply) => {
    const config = await loadConfig();
    const rows = [];
    for (const audience of config.audiences) {
      const { latest } = await sizeHistory(app.store, audience.id);
      rows.push({
        audience,
        destinations: destinationsOf(audience),
        ...(latest ? { latest } : {}),
      });
    }
    return sendHtml(reply, audiencesPage(csrfOf(request), rows));
  });

  const destinationsOf = (audience: Parameters<typeof syncTargets>[0][number]) =>
    syncTargets([audience]).map((t) => t.destination);

  const notFound = (request: FastifyRequest, reply: FastifyReply, what: string) =>
    sendHtml(reply, errorPage(404, what, csrfOf(request)), 404);

  app.get('/audiences/:id', async (request, reply) => {
    const { id } = request.params as { id: string };
    const audience = ID_RE.test(id) ? findAudience(await loadConfig(), id) : undefined;
    if (!audience) return notFound(request, reply, 'That audience is not configured.');
    const { points, latest } = await sizeHistory(app.store, audience.id);
    return sendHtml(reply, audiencePage(csrfOf(request), audience, destinationsOf(audience), points, latest));
  });

  app.get('/api/audiences/:id/sizes', async (request, reply) => {
    const { id } = request.params as { id: string };
    const audience = ID_RE.test(id) ? findAudience(await loadConfig(), id) : undefined;
    if (!audience)
      return reply.code(404).send({ statusCode: 404, error: 'not_found', message: 'no such audience' });
    const { points } = await sizeHistory(app.store, audience.id);
    return { audience: audience.id, days: points };
  });

  const targetOf = async (request: FastifyRequest) => {
    const { id, destination } = request.params as { id: string; destination: string };
    if (!ID_RE.test(id)) return undefined;
    const loaded = await options.loadConfig();
    const audience = findAudience(loaded.config, id);
    const target = audience ? syncTargets([audience]).find((t) => t.destination === destination) : undefined;
    return audience && target ? { loaded, audience, target } : undefined;
  };

  type Target = NonNullable<Awaited<ReturnType<typeof targetOf>>>;

  /** The target's latest run when a guard stopped it: the run "confirm a guarded sync" applies. */
  const blockedOf = (runs: SyncRunRecord[]) => (runs[0]?.status === 'blocked' ? runs[0] : undefined);

  /**
   * The audience × destination page: run history, plan preview and actions. After an action that
   * queued nothing it is shown again with the reason (`notice`) and an error status.
   */
  const sendTargetPage = async (
    request: FastifyRequest,
    reply: FastifyReply,
    { loaded, audience, target }: Target,
    runs: SyncRunRecord[],
    refused?: { notice: string; status: number },
  ) => {
    const { latest } = await sizeHistory(app.store, audience.id);
    let plan: PlanPreview | undefined;
    let planError: string | undefined;
    if (latest) {
      try {
        plan = await planTarget({ store: app.store, loaded, env: app.env, log }, latest.day, target);
      } catch (error) {
        request.log.warn({ errorType: (error as Error).name }, 'console plan preview failed');
        planError = 'The plan preview could not be computed; `audience-sync plan` shows the error.';
      }
    }
    const blocked = blockedOf(runs);
    return sendHtml(
      reply,
      targetPage({
        csrf: csrfOf(request),
        audience,
        destination: target.destination,
        runs,
        ...(plan ? { plan } : {}),
        ...(planError ? { planError } : {}),
        ...(blocked ? { blocked } : {}),
        canEnqueue: options.pipeline !== undefined,
        ...(refused ? { notice: refused.notice } : {}),
      }),
      refused?.status ?? 200,
    );
  };

  const queueUnavailable = (request: FastifyRequest, reply: FastifyReply, message: string) =>
    sendHtml(reply, errorPage(503, message, csrfOf(request)), 503);

  /** What both actions start with: the target (else 404) and the queue they need (else 503). */
  const actionTarget = async (request: FastifyRequest, reply: FastifyReply) => {
    const found = await targetOf(request);
    if (!found) {
      await notFound(request, reply, 'That audience does not sync to that destination.');
      return undefined;
    }
    if (!options.pipeline) {
      await queueUnavailable(request, reply, 'Syncing needs the queue (Redis), and none is configured.');
      return undefined;
    }
    return { ...found, pipeline: options.pipeline };
  };

  app.get('/audiences/:id/destinations/:destination', async (request, reply) => {
    const found = await targetOf(request);
    if (!found) return notFound(request, reply, 'That audience does not sync to that destination.');
    const runs = await runHistory(app.store, found.target.destination, found.audience.id);
    return sendTargetPage(request, reply, found, runs);
  });

  app.post('/audiences/:id/destinations/:destination/sync', async (request, reply) => {
    const found = await actionTarget(request, reply);
    if (!found) return reply;
    const { loaded, audience, target, pipeline } = found;
    const form = (request.body ?? {}) as Form;
    if (form.confirm !== 'yes') {
      const runs = await runHistory(app.store, target.destination, audience.id);
      return sendTargetPage(request, reply, found, runs, {
        notice: 'Nothing was queued: tick the confirmation box to sync now.',
        status: 400,
      });
    }
    const day = lastCompleteDayIn(loaded.config.schedule.timezone);
    let result: { runId: string; created: boolean };
    try {
      // The same run as POST /v1/runs with `audiences: [id], force: true`.
      result = await enqueueRefresh(pipeline, {
        day,
        audienceIds: [audience.id],
        attempt: Date.now().toString(36),
      });
    } catch {
      return queueUnavailable(request, reply, 'The queue is unavailable; try again shortly.');
    }
    request.log.info({ run_id: result.runId, audience: audience.id }, 'console queued a sync');
    return sendHtml(
      reply,
      syncQueuedPage(csrfOf(request), audience.id, target.destination, { ...result, day }),
      202,
    );
  });

  app.post('/audiences/:id/destinations/:destination/confirm', async (request, reply) => {
    const found = await actionTarget(request, reply);
    if (!found) return reply;
    const { audience, target, pipeline } = found;
    const form = (request.body ?? {}) as Form;
    const runs = await runHistory(app.store, target.destination, audience.id);
    const blocked = blockedOf(runs);
    // The form names the run it was shown for: a page left open while another run started must
    // not confirm a plan its reader never saw.
    if (!blocked || blocked.run_id !== form.run_id) {
      return sendTargetPage(request, reply, found, runs, {
        notice:
          'Nothing was queued: the latest run of this destination is no longer the guarded run this form was for. Read the page again.',
        status: 409,
      });
    }
    if (form.confirm_guard !== 'yes') {
      return sendTargetPage(request, reply, found, runs, {
        notice: 'Nothing was queued: tick the confirmation box to confirm the guarded sync.',
        status: 400,
      });
    }
    const base =
      parseRunKey(keys.syncRun(target.destination, audience.id, blocked.run_id))?.base ?? blocked.run_id;
    let result: { jobId: string; created: boolean };
    try {
      result = await enqueueConfirmedSync(
        pipeline,
        { runId: blocked.run_id, base, day: blocked.day },
        { audienceId: audience.id, destination: target.destination, kind: target.kind },
      );
    } catch {
      return queueUnavailable(request, reply, 'The queue is unavailable; try again shortly.');
    }
    request.log.info(
      {
        job_id: result.jobId,
        audience: audience.id,
        destination: target.destination,
        blocked_run: blocked.run_id,
      },
      'console queued a confirmed sync',
    );
    return sendHtml(
      reply,
      confirmQueuedPage(csrfOf(request), audience.id, target.destination, {
        ...result,
        blocked: blocked.run_id,
        day: blocked.day,
      }),
      202,
    );
  });

  // --- person lookup ------------------------------------------------------------------------

  // An explanation runs a whole build of the day in the SQL engine: one at a time per process.
  let explaining: Promise<unknown> = Promise.resolve();
  const oneAtATime = <T>(work: () => Promise<T>): Promise<T> => {
    const run = explaining.then(work, work);
    explaining = run.catch(() => {});
    return run;
  };

  app.get('/people', async (request, reply) => {
    const query = request.query as { customer_id?: unknown };
    const raw = typeof query.customer_id === 'string' ? query.customer_id.trim() : undefined;
    if (raw === undefined || raw === '') return sendHtml(reply, peoplePage({ csrf: csrfOf(request) }));
    if (raw.length > 256) {
      return sendHtml(
        reply,
        errorPage(400, 'A customer id is at most 256 characters.', csrfOf(request)),
        400,
      );
    }
    const config = await loadConfig();
    let explanation: Explanation | undefined;
    let explainNote: string | undefined;
    try {
      // The latest built day (the explain default), from the stored people snapshot: a GET writes nothing.
      explanation = await oneAtATime(() =>
        explainPerson({ store: app.store, config, customerId: raw, updateSnapshot: false }),
      );
    } catch (error) {
      if (error instanceof PersonNotFoundError) {
        explainNote = `This customer id is not in the people snapshot of ${error.day} and has no records there.`;
      } else {
        // Only the type: messages may quote the id or data.
        request.log.warn({ errorType: (error as Error).name }, 'console explain failed');
        explainNote = 'The explanation could not be computed; `audience-sync explain` shows the error.';
      }
    }
    // An alias is looked up as the customer id it was merged into.
    const owner = explanation?.customer_id ?? raw;
    const memberships = await membershipsOf(app.store, config, owner);
    return sendHtml(
      reply,
      peoplePage({
        csrf: csrfOf(request),
        customerId: raw,
        memberships,
        ...(explanation ? { explanation } : {}),
        ...(explainNote ? { explainNote } : {}),
      }),
    );
  });

  // --- data health --------------------------------------------------------------------------

  app.get('/health', async (request, reply) => {
    const config = await loadConfig();
    const [datasets, alerts] = await Promise.all([dataHealth(app.store, config), openAlerts(app.store)]);
    return sendHtml(reply, healthPage(csrfOf(request), datasets, alerts));
  });

  // --- lift ---------------------------------------------------------------------------------

  type Lift =
    | { error: string }
    | { audience: AudienceDefinition; found: Awaited<ReturnType<typeof readLiftReport>> };
  const liftOf = async (request: FastifyRequest): Promise<Lift> => {
    const { id } = request.params as { id: string };
    const { day } = request.query as { day?: unknown };
    const audience = ID_RE.test(id) ? findAudience(await loadConfig(), id) : undefined;
    if (!audience) return { error: 'That audience is not configured.' };
    if (day !== undefined && (typeof day !== 'string' || !DAY_RE.test(day)))
      return { error: 'A report day is YYYY-MM-DD.' };
    const measured = (audience.holdout?.fraction ?? 0) > 0;
    const found = measured
      ? await readLiftReport(app.store, audience.id, day as string | undefined)
      : undefined;
    return { audience, found };
  };

  app.get('/audiences/:id/lift', async (request, reply) => {
    const lift = await liftOf(request);
    if ('error' in lift) return notFound(request, reply, lift.error);
    const body = liftPage(csrfOf(request), lift.audience, lift.found);
    return reply
      .code(200)
      .type('text/html; charset=utf-8')
      .header('content-security-policy', lift.found ? CONSOLE_LIFT_CSP : CONSOLE_CSP)
      .send(body);
  });

  app.get('/audiences/:id/lift/report.html', async (request, reply) => {
    const lift = await liftOf(request);
    if ('error' in lift) return notFound(request, reply, lift.error);
    if (!lift.found) return notFound(request, reply, 'No lift report for that audience and day.');
    const report = (await app.store.get(lift.found.htmlKey)).toString('utf8');
    return reply
      .code(200)
      .type('text/html; charset=utf-8')
      .header('content-security-policy', liftReportCsp(report))
      .header('x-frame-options', 'SAMEORIGIN')
      .send(report);
  });
};
