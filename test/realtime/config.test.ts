import { describe, expect, it } from 'vitest';
import { definitionHash } from '../../src/audiences/build.js';
import { ConfigError } from '../../src/config/errors.js';
import {
  loadAudienceSyncConfig as loadAudienceConfig,
  parseAudienceSyncConfig as parseAudienceConfig,
} from '../../src/config-file.js';
import { refineRealtime } from '../../src/realtime/config.js';
import { compileTriggers } from '../../src/realtime/triggers.js';

const BASE = `
version: 1
event_aliases: { purchase: order_completed, Refund Asked: refund_requested }
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: x }
  cio: { type: customerio, site_id: s, api_key: k }
audiences:
  - id: abandoners
    type: top_fraction
    when: { event: checkout_started, within_days: 7 }
    score: [{ weight: 1, count: { event: checkout_started } }]
    top_fraction: 0.5
    holdout: { fraction: 0.1 }
    sync: [meta]
  - id: buyers
    type: segment
    when: { event: purchase, within_days: 30 }
    sync: [meta]
  - id: refunds
    type: segment
    when: { event: refund_requested, within_days: 30 }
    realtime_additions: true
    sync: [meta]
  - id: engaged
    type: segment
    when: { event: page_viewed, within_days: 30 }
    write_back: { destination: cio, attributes: { engaged: member } }
  - id: internal
    type: segment
    when: { event: page_viewed, within_days: 1 }
`;

const REALTIME = `realtime:
  - on: { event: Order Completed }
    remove_from: [abandoners]
  - on: { event: Refund Asked }
    add_to: [refunds]
    remove_from: [abandoners, buyers]
  - on: { person: { unsubscribed: true } }
    remove_from: all
`;

function parse(realtime: string, base = BASE) {
  return parseAudienceConfig(`${base}${realtime}`, 'test.yaml', {}).config;
}

function errorOf(realtime: string, base = BASE): string {
  try {
    parse(realtime, base);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

/** `REALTIME` with its second trigger replaced. */
const second = (trigger: string) =>
  `realtime:\n  - on: { event: order_completed }\n    remove_from: [abandoners]\n${trigger}`;

describe('realtime: configuration', () => {
  it('parses a valid block, normalizing event names with event_aliases like audience rules', () => {
    const config = parse(REALTIME);
    expect(config.realtime).toEqual([
      { on: { event: 'order_completed' }, remove_from: ['abandoners'], add_to: [] },
      { on: { event: 'refund_requested' }, remove_from: ['abandoners', 'buyers'], add_to: ['refunds'] },
      { on: { person: { unsubscribed: true } }, remove_from: 'all', add_to: [] },
    ]);
    // The same normalizer as the rules: `purchase` is an alias of order_completed there too.
    expect(config.audiences[1]!.when).toMatchObject({ event: 'order_completed' });
    expect(
      parse('realtime:\n  - on: { event: purchase }\n    remove_from: [buyers]\n').realtime[0]!.on,
    ).toEqual({
      event: 'order_completed',
    });
    expect(
      parse('realtime:\n  - on: { person: { deleted: true, unsubscribed: true } }\n    add_to: [refunds]\n')
        .realtime,
    ).toEqual([
      { on: { person: { deleted: true, unsubscribed: true } }, remove_from: [], add_to: ['refunds'] },
    ]);
  });

  it('defaults: no triggers, realtime_additions false, realtime_flush_seconds 5', () => {
    const config = parse('');
    expect(config.realtime).toEqual([]);
    expect(config.sync_settings.realtime_flush_seconds).toBe(5);
    expect(config.audiences.map((a) => a.realtime_additions)).toEqual([false, false, true, false, false]);
    expect(parse('sync_settings: { concurrency: 2 }\n').sync_settings.realtime_flush_seconds).toBe(5);
    expect(
      parse('sync_settings: { realtime_flush_seconds: 2.5 }\n').sync_settings.realtime_flush_seconds,
    ).toBe(2.5);
    expect(compileTriggers(config).empty).toBe(true);
  });

  it('keeps realtime_additions out of the definition hash (it does not decide the build)', () => {
    const on = parse('').audiences[2]!;
    expect(definitionHash({ ...on, realtime_additions: false }, undefined)).toBe(
      definitionHash(on, undefined),
    );
  });

  it('names the YAML path of every shape mistake', () => {
    expect(errorOf('realtime: { on: { event: x } }\n')).toBe(
      'test.yaml: realtime: realtime must be a list of triggers',
    );
    expect(errorOf('realtime:\n  - order_completed\n')).toBe(
      'test.yaml: realtime[0]: a trigger is a mapping { on, remove_from, add_to }',
    );
    expect(errorOf(second('  - on: { event: refund_requested }\n'))).toBe(
      'test.yaml: realtime[1]: a trigger needs remove_from or add_to (or both)',
    );
    expect(errorOf(second('  - on: { event: x }\n    remove_from: all\n    remove: [buyers]\n'))).toBe(
      'test.yaml: realtime[1]: unknown key "remove" (allowed here: on, remove_from, add_to)',
    );
    expect(errorOf(second('  - remove_from: all\n'))).toBe(
      'test.yaml: realtime[1].on: on must be a mapping with event or person',
    );
    expect(errorOf(second('  - on: refund_requested\n    remove_from: all\n'))).toBe(
      'test.yaml: realtime[1].on: on must be a mapping with event or person',
    );
    expect(errorOf(second('  - on: {}\n    remove_from: all\n'))).toBe(
      'test.yaml: realtime[1].on: on needs exactly one of event or person (got neither)',
    );
    expect(errorOf(second('  - on: { event: x, person: { deleted: true } }\n    remove_from: all\n'))).toBe(
      'test.yaml: realtime[1].on: on needs exactly one of event or person (got both)',
    );
    expect(errorOf(second('  - on: { event: x, within_days: 1 }\n    remove_from: all\n'))).toBe(
      'test.yaml: realtime[1].on: unknown key "within_days" (allowed here: event, person)',
    );
    expect(errorOf(second('  - on: { event: " " }\n    remove_from: all\n'))).toBe(
      'test.yaml: realtime[1].on.event: event name is empty',
    );
    expect(errorOf(second('  - on: { person: { email: a@b.c } }\n    remove_from: all\n'))).toMatch(
      /^test\.yaml: realtime\[1\]\.on\.person: unknown key "email" \(allowed here: unsubscribed, deleted\)/,
    );
    expect(errorOf(second('  - on: { person: { unsubscribed: false } }\n    remove_from: all\n'))).toBe(
      'test.yaml: realtime[1].on.person.unsubscribed: unsubscribed can only be true (a trigger fires on people records with unsubscribed: true)',
    );
    expect(errorOf(second('  - on: { person: {} }\n    remove_from: all\n'))).toBe(
      'test.yaml: realtime[1].on.person: person needs unsubscribed: true and/or deleted: true',
    );
    expect(errorOf(second('  - on: { event: x }\n    remove_from: buyers\n'))).toBe(
      'test.yaml: realtime[1].remove_from: remove_from is a list of audience ids or "all" (for one audience write [buyers])',
    );
    expect(errorOf(second('  - on: { event: x }\n    remove_from: [buyers, 3]\n'))).toBe(
      'test.yaml: realtime[1].remove_from[1]: remove_from lists audience ids',
    );
    expect(errorOf(second('  - on: { event: x }\n    remove_from: []\n'))).toBe(
      'test.yaml: realtime[1].remove_from: remove_from needs at least one audience',
    );
    expect(errorOf(second('  - on: { event: x }\n    add_to: all\n'))).toBe(
      'test.yaml: realtime[1].add_to: add_to must be a list of audience ids',
    );
    expect(errorOf(second('  - on: { event: x }\n    add_to: []\n'))).toBe(
      'test.yaml: realtime[1].add_to: add_to needs at least one audience',
    );
  });

  it('cross-checks the audiences triggers name', () => {
    expect(errorOf(second('  - on: { event: x }\n    remove_from: [nobody]\n'))).toBe(
      'test.yaml: realtime[1].remove_from[0]: unknown audience "nobody" (defined: abandoners, buyers, refunds, engaged, internal)',
    );
    expect(errorOf(second('  - on: { event: x }\n    add_to: [refunds, nobody]\n'))).toMatch(
      /^test\.yaml: realtime\[1\]\.add_to\[1\]: unknown audience "nobody"/,
    );
    expect(errorOf(second('  - on: { event: x }\n    remove_from: [buyers, buyers]\n'))).toBe(
      'test.yaml: realtime[1].remove_from[1]: audience "buyers" is listed twice',
    );
    // add_to is for exclusion lists: segments marked realtime_additions: true.
    expect(errorOf(second('  - on: { event: x }\n    add_to: [refunds, buyers]\n'))).toBe(
      'test.yaml: realtime[1].add_to[1]: audience "buyers" is not a segment audience with realtime_additions: true (add_to is for exclusion lists: mark such a segment realtime_additions: true)',
    );
    // A top_fraction audience has a holdout here; its members are never added.
    expect(errorOf(second('  - on: { event: x }\n    add_to: [abandoners]\n'))).toMatch(
      /^test\.yaml: realtime\[1\]\.add_to\[0\]: audience "abandoners" has a holdout, and a holdout member is never added/,
    );
    expect(
      errorOf(
        second('  - on: { event: x }\n    add_to: [abandoners]\n'),
        BASE.replace('    holdout: { fraction: 0.1 }\n', ''),
      ),
    ).toMatch(
      /realtime\[1\]\.add_to\[0\]: audience "abandoners" is not a segment audience with realtime_additions: true/,
    );
    expect(errorOf(second('  - on: { event: x }\n    remove_from: [refunds]\n    add_to: [refunds]\n'))).toBe(
      'test.yaml: realtime[1].add_to[0]: audience "refunds" is also in remove_from of this trigger',
    );
    // realtime_additions itself is for segments only.
    expect(
      errorOf('', BASE.replace('    holdout: { fraction: 0.1 }\n', '    realtime_additions: true\n')),
    ).toBe(
      'test.yaml: audiences[0].realtime_additions: realtime_additions applies only to segment audiences (add_to grows exclusion lists)',
    );
    expect(errorOf('', BASE.replace('realtime_additions: true', 'realtime_additions: yes please'))).toBe(
      'test.yaml: audiences[2].realtime_additions: realtime_additions must be true or false',
    );
  });

  it('never lets an audience with a holdout be an add_to target, whatever its type', () => {
    // Segments cannot have a holdout today (rejected earlier); the rule stands on its own anyway.
    const fail = (path: (string | number)[], message: string): never => {
      throw new Error(`${path.join('.')}: ${message}`);
    };
    const audiences = [
      { id: 'x', type: 'segment' as const, realtime_additions: true, holdout: { fraction: 0.1 } },
    ];
    expect(() =>
      refineRealtime({ audiences, realtime: [{ on: { event: 'e' }, remove_from: [], add_to: ['x'] }] }, fail),
    ).toThrow('realtime.0.add_to.0: audience "x" has a holdout');
  });

  it('bounds sync_settings.realtime_flush_seconds', () => {
    expect(errorOf('sync_settings: { realtime_flush_seconds: 0.5 }\n')).toBe(
      'test.yaml: sync_settings.realtime_flush_seconds: realtime_flush_seconds must be at least 1',
    );
    expect(errorOf('sync_settings: { realtime_flush_seconds: 301 }\n')).toBe(
      'test.yaml: sync_settings.realtime_flush_seconds: realtime_flush_seconds must be at most 300',
    );
    expect(errorOf('sync_settings: { realtime_flush_seconds: soon }\n')).toBe(
      'test.yaml: sync_settings.realtime_flush_seconds: realtime_flush_seconds must be a number of seconds',
    );
  });
});

describe('compileTriggers', () => {
  it('matches events on the normalized name and merges matching triggers', () => {
    const m = compileTriggers(parse(REALTIME));
    expect(m.empty).toBe(false);
    // Messages can trigger nothing here: ingest never parses their lines for triggers.
    expect([...m.datasets].sort()).toEqual(['events', 'people']);
    expect(m.match('events', { name: 'order_completed', customer_id: 'c1' })).toEqual([
      { op: 'remove', audienceIds: ['abandoners'] },
    ]);
    expect(m.match('events', { name: 'refund_requested' })).toEqual([
      { op: 'remove', audienceIds: ['abandoners', 'buyers'] },
      { op: 'add', audienceIds: ['refunds'] },
    ]);
    // Names are normalized at ingest; the matcher compares them as they are.
    expect(m.match('events', { name: 'Order Completed' })).toEqual([]);
    expect(m.match('events', { name: 'page_viewed' })).toEqual([]);
    expect(m.match('events', {})).toEqual([]);
    // Messages never match (for now), even with a matching name.
    expect(m.match('messages', { name: 'order_completed', channel: 'email', metric: 'clicked' })).toEqual([]);
    // An event with unsubscribed set is still an event.
    expect(m.match('events', { name: 'x', unsubscribed: true })).toEqual([]);
  });

  it('resolves all to the audiences that sync somewhere (sync or write_back)', () => {
    const m = compileTriggers(parse(REALTIME));
    expect(m.match('people', { customer_id: 'c1', unsubscribed: true })).toEqual([
      { op: 'remove', audienceIds: ['abandoners', 'buyers', 'refunds', 'engaged'] },
    ]);
    expect(m.match('people', { customer_id: 'c1', unsubscribed: false })).toEqual([]);
    expect(m.match('people', { customer_id: 'c1', unsubscribed: 'true' })).toEqual([]);
    expect(m.match('people', { customer_id: 'c1', deleted: true })).toEqual([]);
  });

  it('matches person triggers on every configured flag and unions audiences across triggers', () => {
    const m = compileTriggers(
      parse(`realtime:
  - on: { person: { deleted: true } }
    remove_from: [buyers, abandoners]
  - on: { person: { unsubscribed: true, deleted: true } }
    remove_from: [abandoners, engaged]
    add_to: [refunds]
  - on: { person: { unsubscribed: true } }
    remove_from: [refunds]
  - on: { event: order_completed }
    remove_from: [buyers]
  - on: { event: purchase }
    remove_from: [engaged, buyers]
`),
    );
    expect(m.match('people', { deleted: true })).toEqual([
      { op: 'remove', audienceIds: ['buyers', 'abandoners'] },
    ]);
    expect(m.match('people', { unsubscribed: true })).toEqual([{ op: 'remove', audienceIds: ['refunds'] }]);
    // Both flags: all three triggers; refunds is both removed and added (the caller decides).
    expect(m.match('people', { unsubscribed: true, deleted: true })).toEqual([
      { op: 'remove', audienceIds: ['buyers', 'abandoners', 'engaged', 'refunds'] },
      { op: 'add', audienceIds: ['refunds'] },
    ]);
    expect(m.match('people', { customer_id: 'c2' })).toEqual([]);
    // order_completed and purchase (an alias) are the same event: one action, de-duplicated.
    expect(m.match('events', { name: 'order_completed' })).toEqual([
      { op: 'remove', audienceIds: ['buyers', 'engaged'] },
    ]);
  });

  it('returns fresh arrays and is empty when no trigger names an audience', () => {
    const m = compileTriggers(parse(REALTIME));
    m.match('events', { name: 'order_completed' })[0]!.audienceIds.push('mutated');
    expect(m.match('events', { name: 'order_completed' })).toEqual([
      { op: 'remove', audienceIds: ['abandoners'] },
    ]);
    // all with nothing that syncs: nothing to do, ever.
    const nothingSyncs = BASE.replace(/ {4}sync: \[meta\]\n/g, '').replace(/ {4}write_back: .*\n/, '');
    const idle = compileTriggers(
      parse('realtime:\n  - on: { person: { deleted: true } }\n    remove_from: all\n', nothingSyncs),
    );
    expect(idle.empty).toBe(true);
    expect(idle.match('people', { deleted: true })).toEqual([]);
  });

  it('compiles the documented example', async () => {
    const { config } = await loadAudienceConfig('audience-sync.example.yaml', {});
    const m = compileTriggers(config);
    expect(m.match('events', { name: 'order_completed' })).toEqual([
      { op: 'remove', audienceIds: ['high_intent_abandoners'] },
    ]);
    expect(m.match('events', { name: 'refund_requested' })).toEqual([
      { op: 'add', audienceIds: ['refund_exclusions'] },
    ]);
    expect(m.match('people', { unsubscribed: true })).toEqual([
      { op: 'remove', audienceIds: config.audiences.map((a) => a.id) },
    ]);
  });
});
