import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { buildOrder, holdoutSalt, withDependencies } from '../../src/audiences/config.js';
import { ConfigError } from '../../src/config/errors.js';
import { loadAudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import { EXAMPLE_HOLDOUT } from '../../src/generate/dataset.js';

const BASE = `
version: 1
event_aliases: { purchase: order_completed }
destinations:
  meta: { type: meta, ad_account_id: act_1, access_token: "\${META_TOKEN}" }
  cio: { type: customerio, site_id: s, api_key: k }
audiences:
  - id: buyers
    type: segment
    when: { event: purchase, within_days: 30 }
    sync: [meta]
  - id: top
    type: top_fraction
    when:
      all:
        - event: Checkout Started
          within_days: 7
          min_count: 2
          where: { value: { gte: 50 }, currency: { in: [USD, EUR] } }
        - not: { event: purchase, within_days: 7 }
        - any:
            - message: { channel: Email, metric: Clicked, campaign_id: 501 }
            - person: { country: US, "attributes.plan": pro, unsubscribed: false }
    exclude: [buyers]
    score:
      - { weight: 2, count: { event: checkout_started } }
      - { weight: 0.5, sum: { event: checkout_started, property: value, within_days: 3 } }
    top_fraction: 0.1
    holdout: { fraction: 0.2 }
    measure: { event: purchase, window_days: 14 }
    write_back: { destination: cio, attributes: { paid_group: group } }
`;

function errorOf(text: string): string {
  try {
    parseAudienceSyncConfig(text, 'test.yaml', {});
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('audience configuration', () => {
  it('parses the grammar, normalizes event names with aliases and defaults min_count', () => {
    const { config } = parseAudienceSyncConfig(BASE, 'test.yaml', {});
    const [buyers, top] = config.audiences;
    expect(buyers!.when).toEqual({ event: 'order_completed', within_days: 30, min_count: 1 });
    expect(top!.measure).toEqual({ event: 'order_completed', window_days: 14 });
    const all = (top!.when as { all: unknown[] }).all;
    expect(all[0]).toEqual({
      event: 'checkout_started',
      within_days: 7,
      min_count: 2,
      where: { value: { gte: 50 }, currency: { in: ['USD', 'EUR'] } },
    });
    // channel and metric are stored lowercased; the selector is lowercased to meet them.
    expect((all[2] as { any: unknown[] }).any[0]).toMatchObject({
      message: { channel: 'email', metric: 'clicked', campaign_id: 501 },
    });
    expect(top!.exclude).toEqual(['buyers']);
    expect(holdoutSalt(top!)).toBe('top'); // the default salt is the audience id
  });

  it('loads the documented example, whose abandoners holdout is the one the generator uses', async () => {
    const loaded = await loadAudienceSyncConfig('audience-sync.example.yaml', {});
    const ids = loaded.config.audiences.map((a) => a.id);
    expect(ids).toEqual([
      'high_intent_abandoners',
      'recent_buyers',
      'winback_email_clickers',
      'recent_sms_recipients',
      'lapsed_customers',
      'customers',
      'refund_exclusions',
    ]);
    const abandoners = loaded.config.audiences[0]!;
    expect(abandoners.holdout).toEqual(EXAMPLE_HOLDOUT);
    // Secrets are not needed to load: missing variables are recorded per destination.
    expect(loaded.missingByDestination.meta?.[0]?.variable).toBe('META_ACCESS_TOKEN');
    expect(
      buildOrder(loaded.config.audiences)
        .map((a) => a.id)
        .indexOf('recent_buyers'),
    ).toBeLessThan(
      buildOrder(loaded.config.audiences)
        .map((a) => a.id)
        .indexOf('high_intent_abandoners'),
    );
    const text = await readFile('audience-sync.example.yaml', 'utf8');
    expect(text).toContain('campaign_id: 501');
  });

  it('names the YAML path of every kind of mistake', () => {
    expect(errorOf(BASE.replace('exclude: [buyers]', 'exclude: [nobody]'))).toBe(
      'test.yaml: audiences[1].exclude[0]: unknown audience "nobody"',
    );
    expect(errorOf(BASE.replace('sync: [meta]', 'sync: [google]'))).toBe(
      'test.yaml: audiences[0].sync[0]: unknown destination "google" (defined: meta, cio)',
    );
    expect(errorOf(BASE.replace('top_fraction: 0.1', 'top_fraction: 1.2'))).toMatch(
      /audiences\[1\]\.top_fraction: top_fraction must be in \(0, 1\]/,
    );
    expect(errorOf(BASE.replace('top_fraction: 0.1', 'top_fraction: 0'))).toMatch(
      /audiences\[1\]\.top_fraction/,
    );
    expect(errorOf(BASE.replace('holdout: { fraction: 0.2 }', 'holdout: { fraction: -0.1 }'))).toMatch(
      /audiences\[1\]\.holdout\.fraction: holdout\.fraction must be in \(0, 1\]/,
    );
    expect(errorOf(BASE.replace('within_days: 30', 'within_days: 5000'))).toMatch(
      /audiences\[0\]\.when\.within_days: within_days must be at most 730/,
    );
    expect(errorOf(BASE.replace('min_count: 2', 'min_count: 0'))).toMatch(
      /audiences\[1\]\.when\.all\[0\]\.min_count: min_count must be at least 1/,
    );
    expect(errorOf(BASE.replace('- event: Checkout Started', '- evnt: Checkout Started'))).toMatch(
      /audiences\[1\]\.when\.all\[0\]: a condition needs one of event, message, person, trait, all, any, not/,
    );
    expect(errorOf(BASE.replace('channel: Email', 'chanel: Email'))).toMatch(
      /audiences\[1\]\.when\.all\[2\]\.any\[0\]\.message\.chanel: unknown message field "chanel"/,
    );
    expect(errorOf(BASE.replace('unsubscribed: false', 'unsubscribd: false'))).toMatch(
      /audiences\[1\]\.when\.all\[2\]\.any\[1\]\.person\.unsubscribd: unknown person field/,
    );
    expect(errorOf(BASE.replace('gte: 50', 'between: 50'))).toMatch(
      /audiences\[1\]\.when\.all\[0\]\.where\.value: Unrecognized key/,
    );
    expect(errorOf(BASE.replace(', property: value, within_days: 3', ', within_days: 3'))).toMatch(
      /audiences\[1\]\.score\[1\]\.sum\.property: sum needs the property/,
    );
    expect(errorOf(BASE.replace('{ weight: 2, count:', '{ weight: 2, avg:'))).toMatch(
      /audiences\[1\]\.score\[0\]: a score term needs exactly one of count, sum, max, min, days_since/,
    );
    expect(errorOf(BASE.replace('destination: cio', 'destination: meta'))).toMatch(
      /audiences\[1\]\.write_back\.destination: write_back goes to a customerio/,
    );
    expect(
      errorOf(BASE.replace('id: top', 'id: buyers').replace('exclude: [buyers]', 'exclude: []')),
    ).toMatch(/audiences\[1\]\.id: duplicate audience id "buyers" \(also audiences\[0\]\)/);
    expect(errorOf(BASE.replace('id: top', 'id: "bad:id"'))).toMatch(/audiences\[1\]\.id: audience ids use/);
    expect(errorOf(`${BASE}    extra: 1\n`)).toMatch(/audiences\[1\]: Unrecognized key: "extra"/);
  });

  it('rejects type-specific keys in the wrong type of audience', () => {
    const noScore = BASE.replace(/ {4}score:\n.*\n.*\n/, '');
    expect(errorOf(noScore)).toBe(
      'test.yaml: audiences[1].score: a top_fraction audience needs score (how to rank people)',
    );
    expect(
      errorOf(BASE.replace('    sync: [meta]\n', '    sync: [meta]\n    holdout: { fraction: 0.1 }\n')),
    ).toMatch(/audiences\[0\]\.holdout: holdout applies only to top_fraction audiences/);
  });

  it('finds exclude cycles and orders dependencies first', () => {
    const cyclic = BASE.replace('    sync: [meta]\n', '    sync: [meta]\n    exclude: [top]\n');
    expect(errorOf(cyclic)).toBe(
      'test.yaml: audiences[0].exclude: audiences exclude each other in a cycle: buyers → top → buyers',
    );
    expect(errorOf(BASE.replace('exclude: [buyers]', 'exclude: [top]'))).toMatch(/cannot exclude itself/);
    const { config } = parseAudienceSyncConfig(BASE, 'test.yaml', {});
    expect(withDependencies(config.audiences, ['top']).map((a) => a.id)).toEqual(['buyers', 'top']);
    expect(withDependencies(config.audiences, ['buyers']).map((a) => a.id)).toEqual(['buyers']);
    expect(() => withDependencies(config.audiences, ['nope'])).toThrow(/unknown audience "nope"/);
  });

  it('parses never_send and rejects windows on person conditions', () => {
    const text = `${BASE}never_send:\n  any:\n    - person: { deleted: true }\n    - message: { channel: email, metric: spammed }\n      within_days: 90\n`;
    const { config } = parseAudienceSyncConfig(text, 'test.yaml', {});
    expect(config.never_send).toEqual({
      any: [
        { person: { deleted: true } },
        { message: { channel: 'email', metric: 'spammed' }, within_days: 90, min_count: 1 },
      ],
    });
    expect(errorOf(`${BASE}never_send: { person: { deleted: true }, within_days: 3 }\n`)).toMatch(
      /never_send\.within_days: person conditions test the snapshot as of D and take no "within_days"/,
    );
  });
});
