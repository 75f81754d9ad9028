import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ALERT_STATE_KEY,
  type AlertState,
  processAlerts,
  sinksFromConfig,
  slackPayload,
} from '../../src/health/alerts.js';
import type { Finding } from '../../src/health/findings.js';
import { runHealth } from '../../src/health/run.js';
import { createLogger } from '../../src/log.js';
import { keys } from '../../src/storage/keys.js';
import { readJson } from '../../src/storage/object-store.js';
import { type FakeHttp, type FakeResponse, type RecordedRequest, startFakeHttp } from '../fakes/http.js';
import { createFsTestStore, type TestStore } from '../helpers/stores.js';
import { minutesAfter, NOW, recordingSink, seedHealthy, testConfig, writeRawPart } from './fixture.js';

/** A Slack-compatible incoming webhook on loopback: checks the documented body, answers `ok`. */
async function fakeSlack(answers: FakeResponse[] = []): Promise<FakeHttp & { shapeErrors: string[] }> {
  const shapeErrors: string[] = [];
  const check = (r: RecordedRequest) => {
    if (r.method !== 'POST') shapeErrors.push(`method ${r.method}`);
    if (!r.contentType.startsWith('application/json')) shapeErrors.push(`content-type ${r.contentType}`);
    const body = r.body as { text?: unknown; blocks?: unknown };
    if (typeof body?.text !== 'string' || body.text.length === 0)
      shapeErrors.push('text must be a non-empty string');
    if (body.blocks !== undefined) {
      if (!Array.isArray(body.blocks)) shapeErrors.push('blocks must be an array');
      else
        for (const b of body.blocks as { type?: unknown }[])
          if (typeof b.type !== 'string') shapeErrors.push('block without type');
    }
  };
  const fake = await startFakeHttp((r) => {
    check(r);
    return answers.shift() ?? { status: 200, text: 'ok' };
  });
  return Object.assign(fake, { shapeErrors });
}

const silent = createLogger({ level: 'silent' });

function finding(id: string, severity: Finding['severity'] = 'critical'): Finding {
  return { id, severity, kind: 'freshness', subject: { dataset: 'events' }, message: `events: ${id}` };
}

describe('alerts', () => {
  let t: TestStore;
  let slack: FakeHttp & { shapeErrors: string[] };

  beforeEach(async () => {
    t = await createFsTestStore();
  });
  afterEach(async () => {
    expect(slack?.shapeErrors ?? []).toEqual([]);
    await slack?.close();
    await t.cleanup();
  });

  it('posts one Slack-compatible message when a finding fires and one when it resolves, never per run', async () => {
    slack = await fakeSlack();
    const config = testConfig({ ALERT_WEBHOOK_URL: `${slack.url}/services/T0/B0/x` });
    await seedHealthy(t.store);
    // Today's events never arrived.
    const today = NOW.toISOString().slice(0, 10);
    const stale = [];
    for await (const i of t.store.list(keys.rawPrefix('events', today))) stale.push(i.key);
    await t.store.delete(stale);

    const run = (now: Date) => runHealth({ store: t.store, config, now, log: silent });
    await run(NOW);
    await run(minutesAfter(NOW, 15));
    await run(minutesAfter(NOW, 30));
    expect(slack.requests).toHaveLength(1);
    const fired = slack.requests[0]!;
    expect(fired.path).toBe('/services/T0/B0/x');
    const body = fired.body as { text: string; blocks: { type: string }[] };
    expect(body.text).toMatch(
      /^:red_circle: FIRING \[critical\] freshness: events: no new raw data for 25 h/,
    );
    expect(body.blocks.map((b) => b.type)).toEqual(['section', 'section', 'context']);

    await writeRawPart(t.store, 'events', today, minutesAfter(NOW, 40).getTime(), 3);
    await run(minutesAfter(NOW, 45));
    await run(minutesAfter(NOW, 60));
    expect(slack.requests).toHaveLength(2);
    expect((slack.requests[1]!.body as { text: string }).text).toMatch(
      /^:large_green_circle: RESOLVED \[critical\] freshness: events:/,
    );
  });

  it('retries a delivery the webhook refused on the next run, once, without losing the change', async () => {
    slack = await fakeSlack([{ status: 500, text: 'internal_error' }]);
    const sinks = sinksFromConfig(
      { log: false, webhook: { url: slack.url, min_severity: 'warning', timeout_ms: 2000 } },
      { log: silent },
    );
    expect(sinks.problems).toEqual([]);
    const first = await processAlerts({
      store: t.store,
      findings: [finding('freshness:events')],
      sinks: sinks.sinks,
      now: NOW,
    });
    expect(first.fired).toEqual(['freshness:events']);
    expect(first.deliveries).toEqual([
      {
        sink: 'webhook',
        id: 'freshness:events',
        change: 'firing',
        ok: false,
        error: 'alert webhook answered HTTP 500 (internal_error)',
      },
    ]);
    const second = await processAlerts({
      store: t.store,
      findings: [finding('freshness:events')],
      sinks: sinks.sinks,
      now: minutesAfter(NOW, 15),
    });
    expect(second.fired).toEqual([]);
    expect(second.deliveries).toEqual([
      { sink: 'webhook', id: 'freshness:events', change: 'firing', ok: true },
    ]);
    await processAlerts({
      store: t.store,
      findings: [finding('freshness:events')],
      sinks: sinks.sinks,
      now: minutesAfter(NOW, 30),
    });
    expect(slack.requests).toHaveLength(2);
    const state = await readJson<AlertState>(t.store, ALERT_STATE_KEY);
    expect(state.alerts['freshness:events']?.notified.webhook?.status).toBe('firing');
  });

  it('sends only what reaches the sink severity, and an escalation once', async () => {
    const sink = { ...recordingSink(), minSeverity: 'critical' as const };
    await processAlerts({
      store: t.store,
      findings: [finding('volume_drop:events', 'warning')],
      sinks: [sink],
      now: NOW,
    });
    expect(sink.notices).toEqual([]);
    // Escalated to critical: the sink hears about it now, as firing (it never heard the warning).
    await processAlerts({
      store: t.store,
      findings: [finding('volume_drop:events', 'critical')],
      sinks: [sink],
      now: minutesAfter(NOW, 5),
    });
    expect(sink.notices).toEqual([{ change: 'firing', id: 'volume_drop:events' }]);

    const all = recordingSink('all');
    await processAlerts({ store: t.store, findings: [finding('x:1', 'warning')], sinks: [all], now: NOW });
    await processAlerts({
      store: t.store,
      findings: [finding('x:1', 'critical')],
      sinks: [all],
      now: minutesAfter(NOW, 5),
    });
    await processAlerts({
      store: t.store,
      findings: [finding('x:1', 'critical')],
      sinks: [all],
      now: minutesAfter(NOW, 10),
    });
    expect(all.notices).toEqual([
      { change: 'firing', id: 'x:1' },
      { change: 'escalated', id: 'x:1' },
    ]);
  });

  it('never alerts on info findings, and fires again after a resolution', async () => {
    const sink = recordingSink();
    const r1 = await processAlerts({
      store: t.store,
      findings: [finding('freshness:people', 'info')],
      sinks: [sink],
      now: NOW,
    });
    expect(r1.fired).toEqual([]);
    await processAlerts({ store: t.store, findings: [finding('a:1')], sinks: [sink], now: NOW });
    await processAlerts({ store: t.store, findings: [], sinks: [sink], now: minutesAfter(NOW, 1) });
    await processAlerts({
      store: t.store,
      findings: [finding('a:1')],
      sinks: [sink],
      now: minutesAfter(NOW, 2),
    });
    expect(sink.notices.map((n) => n.change)).toEqual(['firing', 'resolved', 'firing']);
  });

  it('reports an unset webhook variable by name and keeps the log sink', async () => {
    const config = testConfig();
    expect(config.alerts.webhook?.url).toBe('${ALERT_WEBHOOK_URL}');
    const lines: string[] = [];
    const logger = createLogger(
      { level: 'info' },
      new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const { sinks, problems } = sinksFromConfig(config.alerts, { log: logger });
    expect(problems).toEqual([
      'alerts.webhook.url needs environment variable ALERT_WEBHOOK_URL, which is not set: webhook alerts are off',
    ]);
    expect(sinks.map((s) => s.name)).toEqual(['log']);
    await processAlerts({ store: t.store, findings: [finding('freshness:events')], sinks, now: NOW });
    const logged = JSON.parse(lines.find((l) => l.includes('FIRING'))!);
    expect(logged).toMatchObject({
      level: 50,
      alert_id: 'freshness:events',
      change: 'firing',
      dataset: 'events',
    });
  });

  it('builds Slack blocks that carry the id and the times', () => {
    const payload = slackPayload({
      change: 'resolved',
      alert: {
        id: 'destination_failing:meta',
        kind: 'destination_failing',
        severity: 'critical',
        subject: { destination: 'meta' },
        message: 'meta: the latest sync failed for a',
        status: 'resolved',
        fired_at: '2026-03-10T13:00:00.000Z',
        last_seen_at: '2026-03-10T13:00:00.000Z',
        resolved_at: '2026-03-10T14:00:00.000Z',
        notified: {},
      },
    });
    expect(payload.text).toBe(
      ':large_green_circle: RESOLVED [critical] destination_failing: meta: the latest sync failed for a',
    );
    expect(JSON.stringify(payload.blocks)).toContain(
      'id `destination_failing:meta` · since 2026-03-10T13:00:00.000Z · resolved 2026-03-10T14:00:00.000Z',
    );
  });
});
