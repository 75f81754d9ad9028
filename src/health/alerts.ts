import type { z } from 'zod';
import type { alertsSchema } from '../config/schema.js';
import type { Logger } from '../log.js';
import { type ObjectStore, readJsonIfExists, writeJson } from '../storage/object-store.js';
import {
  type Finding,
  type FindingKind,
  type FindingSubject,
  type Severity,
  severityRank,
} from './findings.js';

/**
 * Alerts: one notification per state change of a finding (firing → resolved), not one per check
 * run. The state lives in the store (`health/alerts.json`), next to the data it describes, so the
 * CLI, the scheduled job and a restarted worker agree on what was already said.
 *
 * Each sink remembers what it was last told about each alert. A delivery that fails (the webhook is
 * down) is simply not recorded, so the next run tries again — a state change is never lost, and
 * never sent twice once delivered.
 */
export const ALERT_STATE_KEY = 'health/alerts.json';
const STATE_VERSION = 1;
/** Resolved alerts are kept this long for `check --json` and then forgotten. */
const KEEP_RESOLVED_MS = 30 * 86_400_000;

export type AlertStatus = 'firing' | 'resolved';
export type AlertChange = 'firing' | 'resolved' | 'escalated';

export interface AlertRecord {
  id: string;
  kind: FindingKind;
  severity: Severity;
  subject: FindingSubject;
  message: string;
  status: AlertStatus;
  fired_at: string;
  last_seen_at: string;
  resolved_at?: string;
  /** Per sink: what it was last told. */
  notified: Record<string, { status: AlertStatus; severity: Severity; at: string }>;
}

export interface AlertState {
  version: number;
  updated_at: string;
  alerts: Record<string, AlertRecord>;
}

export interface AlertNotice {
  change: AlertChange;
  alert: AlertRecord;
}

export interface AlertSink {
  name: string;
  /** Alerts below this severity are not sent to this sink. */
  minSeverity: Exclude<Severity, 'info'>;
  send(notice: AlertNotice): Promise<void>;
}

export interface Delivery {
  sink: string;
  id: string;
  change: AlertChange;
  ok: boolean;
  error?: string;
}

export interface AlertRunResult {
  /** Alerts that started firing in this run. */
  fired: string[];
  /** Alerts that resolved in this run. */
  resolved: string[];
  /** Every alert firing after this run. */
  firing: AlertRecord[];
  deliveries: Delivery[];
}

function emptyAlertState(): AlertState {
  return { version: STATE_VERSION, updated_at: new Date(0).toISOString(), alerts: {} };
}

export async function readAlertState(store: ObjectStore): Promise<AlertState> {
  const state = await readJsonIfExists<AlertState>(store, ALERT_STATE_KEY);
  return state && state.version === STATE_VERSION ? state : emptyAlertState();
}

/**
 * Folds this run's findings into the state: new findings fire, vanished ones resolve, the rest are
 * refreshed. `info` findings never alert. Returns the ids that changed.
 */
function applyFindings(
  state: AlertState,
  findings: readonly Finding[],
  now: Date,
): { fired: string[]; resolved: string[] } {
  const at = now.toISOString();
  const fired: string[] = [];
  const resolved: string[] = [];
  const current = new Map(findings.filter((f) => f.severity !== 'info').map((f) => [f.id, f]));
  for (const [id, f] of current) {
    const existing = state.alerts[id];
    const base = {
      kind: f.kind,
      severity: f.severity,
      subject: f.subject,
      message: f.message,
      last_seen_at: at,
    };
    if (existing && existing.status === 'firing') {
      Object.assign(existing, base);
      continue;
    }
    const record: AlertRecord = {
      id,
      ...base,
      status: 'firing',
      fired_at: at,
      notified: existing?.notified ?? {},
    };
    state.alerts[id] = record;
    fired.push(id);
  }
  for (const alert of Object.values(state.alerts)) {
    if (alert.status === 'firing' && !current.has(alert.id)) {
      alert.status = 'resolved';
      alert.resolved_at = at;
      resolved.push(alert.id);
    }
  }
  for (const [id, alert] of Object.entries(state.alerts)) {
    if (
      alert.status === 'resolved' &&
      now.getTime() - Date.parse(alert.resolved_at ?? at) > KEEP_RESOLVED_MS
    ) {
      delete state.alerts[id];
    }
  }
  state.updated_at = at;
  return { fired, resolved };
}

/** What `sink` still has to be told about `alert`, or undefined. */
function pendingChange(
  alert: AlertRecord,
  sink: Pick<AlertSink, 'name' | 'minSeverity'>,
): AlertChange | undefined {
  const last = alert.notified[sink.name];
  if (alert.status === 'resolved') return last?.status === 'firing' ? 'resolved' : undefined;
  if (severityRank(alert.severity) < severityRank(sink.minSeverity)) return undefined;
  if (!last || last.status === 'resolved') return 'firing';
  return severityRank(alert.severity) > severityRank(last.severity) ? 'escalated' : undefined;
}

async function deliver(state: AlertState, sinks: readonly AlertSink[], now: Date): Promise<Delivery[]> {
  const deliveries: Delivery[] = [];
  for (const alert of Object.values(state.alerts)) {
    for (const sink of sinks) {
      const change = pendingChange(alert, sink);
      if (!change) continue;
      try {
        await sink.send({ change, alert });
        alert.notified[sink.name] = { status: alert.status, severity: alert.severity, at: now.toISOString() };
        deliveries.push({ sink: sink.name, id: alert.id, change, ok: true });
      } catch (error) {
        deliveries.push({
          sink: sink.name,
          id: alert.id,
          change,
          ok: false,
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
  }
  return deliveries;
}

/** Applies findings to the stored state, notifies every sink of what changed, saves the state. */
export async function processAlerts(options: {
  store: ObjectStore;
  findings: readonly Finding[];
  sinks: readonly AlertSink[];
  now?: Date;
}): Promise<AlertRunResult> {
  const now = options.now ?? new Date();
  const state = await readAlertState(options.store);
  const { fired, resolved } = applyFindings(state, options.findings, now);
  const deliveries = await deliver(state, options.sinks, now);
  await writeJson(options.store, ALERT_STATE_KEY, state);
  const firing = Object.values(state.alerts).filter((a) => a.status === 'firing');
  return { fired, resolved, firing, deliveries };
}

// --- sinks -----------------------------------------------------------------------------------------

const HEADLINE: Record<AlertChange, string> = {
  firing: 'FIRING',
  resolved: 'RESOLVED',
  escalated: 'ESCALATED',
};
const EMOJI: Record<AlertChange, string> = {
  firing: ':red_circle:',
  resolved: ':large_green_circle:',
  escalated: ':rotating_light:',
};

function alertText({ change, alert }: AlertNotice): string {
  return `${HEADLINE[change]} [${alert.severity}] ${alert.kind}: ${alert.message}`;
}

/** The log sink: one structured line per state change. */
function logSink(logger: Logger): AlertSink {
  return {
    name: 'log',
    minSeverity: 'warning',
    async send(notice) {
      const { alert, change } = notice;
      const fields = {
        alert_id: alert.id,
        alert_kind: alert.kind,
        severity: alert.severity,
        change,
        ...alert.subject,
        since: alert.fired_at,
      };
      if (change === 'resolved') logger.info(fields, alertText(notice));
      else if (alert.severity === 'critical') logger.error(fields, alertText(notice));
      else logger.warn(fields, alertText(notice));
    },
  };
}

export interface WebhookSinkOptions {
  url: string;
  minSeverity?: AlertSink['minSeverity'];
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Slack-compatible incoming-webhook message: `text` for notifications, `blocks` for the layout. */
export function slackPayload(notice: AlertNotice): { text: string; blocks: unknown[] } {
  const { alert, change } = notice;
  const text = `${EMOJI[change]} ${alertText(notice)}`;
  const context = [`id \`${alert.id}\``, `since ${alert.fired_at}`];
  if (change === 'resolved' && alert.resolved_at) context.push(`resolved ${alert.resolved_at}`);
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `${EMOJI[change]} *${HEADLINE[change]}* [${alert.severity}] ${alert.kind}`,
        },
      },
      { type: 'section', text: { type: 'plain_text', text: alert.message } },
      { type: 'context', elements: [{ type: 'mrkdwn', text: context.join(' · ') }] },
    ],
  };
}

/** POSTs each change as Slack-compatible JSON. Errors never quote the URL: it is a secret. */
function webhookSink(options: WebhookSinkOptions): AlertSink {
  const doFetch = options.fetch ?? fetch;
  return {
    name: 'webhook',
    minSeverity: options.minSeverity ?? 'warning',
    async send(notice) {
      let response: Response;
      try {
        response = await doFetch(options.url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(slackPayload(notice)),
          signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
        });
      } catch (error) {
        const name = error instanceof Error ? error.name : 'Error';
        throw new Error(`alert webhook unreachable (${name === 'TimeoutError' ? 'timed out' : name})`);
      }
      // Drain the body so the connection is reused; Slack answers `ok` or an error word.
      const body = (await response.text().catch(() => '')).slice(0, 100).replace(/\s+/g, ' ');
      if (!response.ok)
        throw new Error(`alert webhook answered HTTP ${response.status}${body ? ` (${body})` : ''}`);
    },
  };
}

export type AlertsConfig = z.output<typeof alertsSchema>;

/**
 * The sinks the `alerts:` block asks for. Problems (an unset `${ALERT_WEBHOOK_URL}`, a URL that is
 * not http(s)) disable that sink and are returned as one-line messages naming the setting.
 */
export function sinksFromConfig(
  config: AlertsConfig,
  deps: { log: Logger; fetch?: typeof fetch },
): { sinks: AlertSink[]; problems: string[] } {
  const sinks: AlertSink[] = [];
  const problems: string[] = [];
  if (config.log) sinks.push(logSink(deps.log));
  const webhook = config.webhook;
  if (webhook) {
    const unset = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(webhook.url);
    if (unset) {
      problems.push(
        `alerts.webhook.url needs environment variable ${unset[1]}, which is not set: webhook alerts are off`,
      );
    } else if (!/^https?:\/\/[^\s]+$/.test(webhook.url) || !URL.canParse(webhook.url)) {
      problems.push('alerts.webhook.url is not an http(s) URL: webhook alerts are off');
    } else {
      sinks.push(
        webhookSink({
          url: webhook.url,
          minSeverity: webhook.min_severity,
          timeoutMs: webhook.timeout_ms,
          ...(deps.fetch ? { fetch: deps.fetch } : {}),
        }),
      );
    }
  }
  return { sinks, problems };
}
