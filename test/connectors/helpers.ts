import { pino } from 'pino';
import { rowConsent } from '../../connectors/core/consent.js';
import { createConnectorContext } from '../../connectors/core/context.js';
import type { ConnectorContext, ConnectorDefinition, SyncRow } from '../../connectors/core/types.js';
import type { PersonRecord } from '../../src/contract/records.js';
import type { ObjectStore } from '../../src/storage/object-store.js';
import { storeOutbox } from '../../src/storage/outbox.js';

/** Logs go nowhere in tests, but through the real pino path (redaction included). */
export const silentLog = pino({ level: 'silent' });

/** Sleeps recorded instead of waited: retries and polling stay instant and observable. */
export function recordingSleep(): { sleep: (ms: number) => Promise<void>; waits: number[] } {
  const waits: number[] = [];
  return {
    waits,
    sleep: async (ms) => {
      waits.push(ms);
    },
  };
}

export function contextFor<C>(
  definition: ConnectorDefinition<C>,
  config: unknown,
  env: Record<string, string>,
  extra: {
    timeoutMs?: number;
    sleep?: (ms: number) => Promise<void>;
    outbox?: { store: ObjectStore; runId: string };
    destination?: string;
    fetch?: typeof fetch;
  } = {},
): ConnectorContext<C> {
  return createConnectorContext(definition, {
    destination: extra.destination ?? definition.id.replace('_', '-'),
    config,
    env,
    log: silentLog,
    ...(extra.timeoutMs ? { timeoutMs: extra.timeoutMs } : {}),
    sleep: extra.sleep ?? (async () => {}),
    ...(extra.fetch ? { fetch: extra.fetch } : {}),
    ...(extra.outbox ? { outbox: storeOutbox(extra.outbox.store, extra.outbox.runId) } : {}),
  });
}

export function person(customerId: string, fields: Partial<PersonRecord> = {}): PersonRecord {
  return { customer_id: customerId, ts: '2026-11-28T00:00:00.000Z', ...fields };
}

/** People with emails and phones that look real, so leaks are easy to spot. */
export function people(n: number, prefix = 'p'): PersonRecord[] {
  return Array.from({ length: n }, (_, i) =>
    person(`${prefix}${i}`, {
      email: `${prefix}.person${i}@example.com`,
      phone: `+1415555${String(i % 10_000).padStart(4, '0')}`,
      first_name: `Name${i}`,
      last_name: 'Doe',
      country: 'US',
      postal_code: '94105',
    }),
  );
}

/** Rows as the sync engine builds them: the connector's own keys, plus consent. */
export function rowsFor<C>(
  definition: ConnectorDefinition<C>,
  persons: readonly PersonRecord[],
  config?: C,
): SyncRow[] {
  return persons.map((p) => ({
    key: p.customer_id,
    keys: definition.matchKeys(p, config) ?? {},
    consent: rowConsent(p),
  }));
}

/** Every raw identifier of these people, to assert none of them leaks anywhere. */
export function rawValues(persons: readonly PersonRecord[]): string[] {
  const out: string[] = [];
  for (const p of persons) {
    for (const v of [p.email, p.phone, p.first_name, p.last_name]) if (v) out.push(v);
  }
  return out;
}
