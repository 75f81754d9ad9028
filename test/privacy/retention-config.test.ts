import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadAudienceSyncConfig, parseAudienceSyncConfig } from '../../src/config-file.js';
import { DEFAULT_WINDOW_DAYS } from '../../src/measure/report.js';
import {
  DEFAULT_LIFT_WINDOW_DAYS,
  DEFAULT_OUTBOX_DAYS,
  DEFAULT_QUARANTINE_DAYS,
  DEFAULT_RAW_DAYS,
  DEFAULT_RUNS_DAYS,
} from '../../src/privacy/retention-config.js';

const AUDIENCES = `
version: 1
audiences:
  - id: buyers
    type: segment
    when: { event: purchase, within_days: 30 }
  - id: top
    type: top_fraction
    when: { event: checkout_started, within_days: 7 }
    score: [{ weight: 1, count: { event: checkout_started } }]
    top_fraction: 0.5
    holdout: { fraction: 0.1 }
    measure: { event: purchase, window_days: 14 }
`;

function parse(text: string) {
  return parseAudienceSyncConfig(text, 'test.yaml', {}).config;
}

function errorOf(text: string): string {
  try {
    parse(text);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('retention configuration', () => {
  it('defaults every limit when the block is missing or partial', () => {
    expect(parse(AUDIENCES).retention).toEqual({
      raw_days: DEFAULT_RAW_DAYS,
      quarantine_days: DEFAULT_QUARANTINE_DAYS,
      outbox_days: DEFAULT_OUTBOX_DAYS,
      runs_days: DEFAULT_RUNS_DAYS,
    });
    expect([DEFAULT_RAW_DAYS, DEFAULT_QUARANTINE_DAYS, DEFAULT_OUTBOX_DAYS, DEFAULT_RUNS_DAYS]).toEqual([
      400, 30, 7, 90,
    ]);
    expect(parse(`${AUDIENCES}retention: { outbox_days: 3 }\n`).retention).toEqual({
      raw_days: 400,
      quarantine_days: 30,
      outbox_days: 3,
      runs_days: 90,
    });
    expect(parse(`${AUDIENCES}retention: {}\n`).retention.raw_days).toBe(400);
    expect(parse('version: 1\n').retention.raw_days).toBe(400);
  });

  it('takes the documented block', () => {
    const text = `${AUDIENCES}retention:\n  raw_days: 120\n  quarantine_days: 10\n  outbox_days: 1\n  runs_days: 30\n`;
    expect(parse(text).retention).toEqual({
      raw_days: 120,
      quarantine_days: 10,
      outbox_days: 1,
      runs_days: 30,
    });
  });

  it('raises the raw default to the longest lookback plus the lift window when that is longer', () => {
    const long = AUDIENCES.replace('within_days: 30', 'within_days: 700');
    expect(parse(long).retention.raw_days).toBe(714);
  });

  it('refuses raw_days shorter than the longest lookback plus the lift window, naming both numbers', () => {
    expect(errorOf(`${AUDIENCES}retention: { raw_days: 20 }\n`)).toBe(
      'test.yaml: retention.raw_days: 20 days is shorter than the longest audience lookback ' +
        '(30 days, audience "buyers") plus the lift window (14 days, audience "top") = 44 days: ' +
        'builds and lift reports read raw data that far back (set at least 44)',
    );
    // At the floor is enough.
    expect(parse(`${AUDIENCES}retention: { raw_days: 44 }\n`).retention.raw_days).toBe(44);
    expect(errorOf(`${AUDIENCES}retention: { raw_days: 43 }\n`)).toMatch(/raw_days: 43 days .* = 44 days/);
  });

  it('counts the default lift window of a holdout without measure, and never_send windows', () => {
    const noMeasure = AUDIENCES.replace('    measure: { event: purchase, window_days: 14 }\n', '');
    expect(errorOf(`${noMeasure}retention: { raw_days: 40 }\n`)).toMatch(
      /lift window \(14 days, audience "top"\) = 44 days/,
    );
    const neverSend = `${AUDIENCES}never_send: { message: { channel: email, metric: spammed }, within_days: 90 }\nretention: { raw_days: 100 }\n`;
    expect(errorOf(neverSend)).toMatch(
      /longest audience lookback \(90 days, never_send\) plus the lift window \(14 days, audience "top"\) = 104 days/,
    );
    // A never_send condition without a window reads the default 30 days; person conditions none.
    const person = `version: 1\nnever_send: { person: { unsubscribed: true } }\nretention: { raw_days: 1 }\n`;
    expect(parse(person).retention.raw_days).toBe(1);
    const unwindowed = `version: 1\nnever_send: { event: complained }\nretention: { raw_days: 29 }\n`;
    expect(errorOf(unwindowed)).toMatch(
      /29 days is shorter than the longest audience lookback \(30 days, never_send\) plus the lift window \(0 days: no audience has a holdout\) = 30 days/,
    );
  });

  it("counts the lift covariates' windows, which end the day before entry", () => {
    const covariates = AUDIENCES.replace(
      'measure: { event: purchase, window_days: 14 }',
      'measure: { event: purchase, window_days: 14, covariates: [{ count: { event: checkout_started, within_days: 60 } }, { attribute: attributes.ltv }] }',
    );
    expect(errorOf(`${covariates}retention: { raw_days: 74 }\n`)).toBe(
      'test.yaml: retention.raw_days: 74 days is shorter than the longest audience lookback ' +
        '(61 days, audience "top" measure.covariates) plus the lift window (14 days, audience "top") = 75 days: ' +
        'builds and lift reports read raw data that far back (set at least 75)',
    );
    expect(parse(`${covariates}retention: { raw_days: 75 }\n`).retention.raw_days).toBe(75);
    // Unset, the default is raised past the covariate window too.
    const long = covariates.replace('within_days: 60', 'within_days: 500');
    expect(parse(long).retention.raw_days).toBe(515);
    // An attribute covariate reads a snapshot, not a window; a window without within_days reads 30.
    const attributeOnly = AUDIENCES.replace(
      'measure: { event: purchase, window_days: 14 }',
      'measure: { event: purchase, window_days: 14, covariates: [{ attribute: attributes.ltv }, { count: { event: checkout_started } }] }',
    );
    expect(errorOf(`${attributeOnly}retention: { raw_days: 44 }\n`)).toMatch(
      /\(31 days, audience "top" measure.covariates\) plus the lift window \(14 days, audience "top"\) = 45 days/,
    );
  });

  it('names the path of invalid values', () => {
    expect(errorOf(`${AUDIENCES}retention: { raw_days: 400.5 }\n`)).toBe(
      'test.yaml: retention.raw_days: raw_days must be whole days',
    );
    expect(errorOf(`${AUDIENCES}retention: { quarantine_days: 0 }\n`)).toBe(
      'test.yaml: retention.quarantine_days: quarantine_days must be at least 1',
    );
    expect(errorOf(`${AUDIENCES}retention: { outbox_days: seven }\n`)).toBe(
      'test.yaml: retention.outbox_days: outbox_days must be a number of days',
    );
    expect(errorOf(`${AUDIENCES}retention: { runs_days: 99999 }\n`)).toBe(
      'test.yaml: retention.runs_days: runs_days must be at most 36500',
    );
    expect(errorOf(`${AUDIENCES}retention: { raw_dayz: 400 }\n`)).toMatch(
      /^test\.yaml: retention: .*raw_dayz/,
    );
    expect(errorOf(`${AUDIENCES}retention: 400\n`)).toMatch(/^test\.yaml: retention: /);
  });

  it('keeps the lift window default in step with the lift report', () => {
    expect(DEFAULT_LIFT_WINDOW_DAYS).toBe(DEFAULT_WINDOW_DAYS);
  });

  it('loads the documented example with its retention block', async () => {
    const { config } = await loadAudienceSyncConfig('audience-sync.example.yaml', {});
    expect(config.retention).toEqual({ raw_days: 400, quarantine_days: 30, outbox_days: 7, runs_days: 90 });
  });
});
