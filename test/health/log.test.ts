import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, log, redirectLogs, runLogger, scrubText } from '../../src/log.js';

/** A logger whose output lines are kept for inspection. */
function captured(level = 'trace') {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger({ level }, stream), lines, text: () => lines.join('') };
}

const EMAIL = 'zebediah.quux@example.org';
const PHONE = '+1 415 555 0199';
const TOKEN = 'EAAGm0PX4ZCpsBAKZA1234567890abcdefghij';

describe('log redaction', () => {
  it('censors sensitive keys at any depth, including in arrays and bindings', () => {
    const { logger, text } = captured();
    logger.child({ run_id: 'refresh-2026-03-09', email: EMAIL }).info(
      {
        person: {
          customer_id: 'c1',
          email: EMAIL,
          first_name: 'Zebediah',
          last_name: 'Quuxington',
          phone: PHONE,
        },
        batch: [{ deep: { deeper: { postal_code: '94107', city: 'Springfield' } } }],
        headers: {
          authorization: 'Bearer abcdefghijklmnop',
          'x-cio-signature': 'f'.repeat(64),
          cookie: 'sid=1',
        },
        destination: { access_token: TOKEN, developer_token: 'dev-tok', client_secret: 'shh' },
        env: { CIO_WEBHOOK_SIGNING_KEYS: 'key-new,key-old', API_KEYS: 'k1,k2' },
      },
      'syncing',
    );
    const out = text();
    for (const secret of [
      EMAIL,
      'Zebediah',
      'Quuxington',
      '415 555',
      '94107',
      'Springfield',
      'abcdefghijklmnop',
      TOKEN,
      'dev-tok',
      'shh',
      'key-new',
      'k1,k2',
      'sid=1',
    ]) {
      expect(out, secret).not.toContain(secret);
    }
    const line = JSON.parse(out);
    expect(line.run_id).toBe('refresh-2026-03-09');
    expect(line.person.customer_id).toBe('c1');
    expect(line.person.email).toBe('[redacted]');
  });

  it('scrubs emails, phones and credentials out of free text: messages, values and error paths', () => {
    const { logger, text } = captured();
    logger.warn(`could not match ${EMAIL} (phone ${PHONE})`);
    logger.info(
      { note: `retrying with access_token=${TOKEN}` },
      'platform said: Authorization: Bearer abcdefghijklmnopq',
    );
    const err = new Error(`invalid email ${EMAIL}`);
    logger.error(err);
    logger.error({ err }, 'request failed');
    logger.error({ error: new TypeError(`bad phone ${PHONE}`) }, 'parse failed');
    const out = text();
    expect(out).not.toContain(EMAIL);
    expect(out).not.toContain('415 555');
    expect(out).not.toContain(TOKEN);
    expect(out).not.toContain('abcdefghijklmnopq');
    expect(out).toContain('[redacted-email]');
    expect(out).toContain('[redacted-phone]');
    const lines = out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    // The error keeps its type and a scrubbed message and stack, so it is still useful.
    expect(lines[2].msg).toBe('invalid email [redacted-email]');
    expect(lines[2].err.type).toBe('Error');
    expect(lines[3].err.stack).toMatch(/^Error: invalid email \[redacted-email\]\n\s+at /);
    expect(lines[4].error.type).toBe('TypeError');
  });

  it('keeps what makes logs useful: ids, counts, hashes, event names', () => {
    const { logger, lines } = captured();
    const sha = 'a'.repeat(64);
    logger.info(
      {
        audience: 'high_intent',
        destination: 'meta',
        rows: 1200,
        hash: sha,
        event: 'checkout_started',
        platform_id: '23850000000001',
      },
      'batch sent',
    );
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({
      audience: 'high_intent',
      rows: 1200,
      hash: sha,
      event: 'checkout_started',
      platform_id: '23850000000001',
    });
    expect(scrubText('line one\nline two with a@b.co')).toBe('line one\nline two with [redacted-email]');
  });

  it('binds run ids, and the root logger can be redirected (the CLI keeps stdout for --json)', () => {
    const lines: string[] = [];
    const restore = redirectLogs(
      new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    const level = log.level;
    log.level = 'info';
    try {
      runLogger(log, 'health-42', { queue: 'health' }).info({ email: EMAIL }, `checked for ${EMAIL}`);
    } finally {
      log.level = level;
      restore();
    }
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!);
    expect(line).toMatchObject({
      run_id: 'health-42',
      queue: 'health',
      email: '[redacted]',
      msg: 'checked for [redacted-email]',
    });
  });
});
