/**
 * `npm run bench -- connectors [--count N]`: normalized + hashed identifiers per second on one
 * core, through the same rule tables `matchKeys` and `audience-sync hash` use. Target for emails:
 * 2,000,000 per second per core.
 *
 * Headline figures run on realistic input, the way people's profiles arrive: emails in mixed case
 * with surrounding spaces or tabs on some, gmail / googlemail addresses with dots and `+tags` in
 * the local part (Google strips both there, TikTok strips `+tags` everywhere), other domains with
 * `+tags` too, and a small share of values that are already SHA-256 hashes; phones in several
 * national and international formats with the person's country as the region. Figures on input
 * that is already normalized (lowercase, no spaces) are printed beside them, labelled partial:
 * they skip most of the normalization work and flatter.
 *
 * Each figure is the median of five rounds after a warm-up, as ids per CPU-second of this process
 * (what one core does) and per wall-clock second. Values the rules refuse are counted apart and
 * never in the rate.
 */

import { loadavg } from 'node:os';
import type { FieldHints, FieldRule } from '../connectors/core/fields.js';
import { sha256Hex } from '../connectors/core/normalize.js';
import { googleRules } from '../connectors/google-ads/keys.js';
import { hashIdentifier } from '../connectors/hash-identifier.js';
import { metaConnector } from '../connectors/meta/index.js';
import { metaRules } from '../connectors/meta/keys.js';
import { tiktokRules } from '../connectors/tiktok/keys.js';
import type { PersonRecord } from '../src/contract/records.js';
import { peakRssMiB, report } from './_report.js';

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? Number(args[i + 1]) : fallback;
}

/** A small deterministic generator (mulberry32), so every run measures the same input. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const DOMAINS = [
  'gmail.com',
  'gmail.com',
  'googlemail.com',
  'yahoo.co.uk',
  'outlook.com',
  'example.com',
  'shop.example.org',
  'hotmail.fr',
];
const FIRST = ['jane', 'marie', 'o.brien', 'ana-luisa', 'lee', 'zoë', 'mohammed', 'kim'];
const LAST = ['doe', 'smith', 'van.der.berg', 'garcía', 'nguyen', 'okafor', 'lindqvist', 'tanaka'];

interface Input {
  raw: string;
  hints: FieldHints;
}

function mixedCase(s: string, next: () => number): string {
  const r = next();
  if (r < 0.35) return s;
  if (r < 0.5) return s.toUpperCase();
  if (r < 0.8) return s.charAt(0).toUpperCase() + s.slice(1);
  return Array.from(s, (c) => (next() < 0.5 ? c.toUpperCase() : c)).join('');
}

function surrounding(s: string, next: () => number): string {
  const r = next();
  if (r < 0.6) return s;
  if (r < 0.8) return ` ${s} `;
  if (r < 0.9) return `${s}\t`;
  return `  ${s}\n`;
}

/** Emails as profiles hold them: mixed case, padding, dots and `+tags`, a few pre-hashed. */
function realisticEmails(n: number): Input[] {
  const next = random(1);
  return Array.from({ length: n }, (_, i) => {
    const first = FIRST[Math.floor(next() * FIRST.length)]!;
    const last = LAST[Math.floor(next() * LAST.length)]!;
    const sep = next() < 0.5 ? '.' : '';
    let local = `${first}${sep}${last}${i}`;
    if (next() < 0.15) local += `+${next() < 0.5 ? 'promo' : 'shop'}${i % 97}`;
    const domain = DOMAINS[Math.floor(next() * DOMAINS.length)]!;
    const email = `${local}@${domain}`;
    if (next() < 0.03) return { raw: sha256Hex(email), hints: {} };
    return { raw: surrounding(mixedCase(email, next), next), hints: {} };
  });
}

/** The same addresses already normalized (lowercase, no padding, no dots or tags removed). */
function canonicalEmails(n: number): Input[] {
  return Array.from({ length: n }, (_, i) => ({
    raw: `first.last${i}${i % 7 === 0 ? '+promo' : ''}@${DOMAINS[i % DOMAINS.length]}`,
    hints: {},
  }));
}

/** Phones in the formats forms collect them, each with the person's country. */
function realisticPhones(n: number): Input[] {
  const next = random(2);
  const digits = (k: number) => Array.from({ length: k }, () => Math.floor(next() * 10)).join('');
  const formats: Array<() => Input> = [
    () => {
      const [a, b, c] = [`${2 + Math.floor(next() * 8)}${digits(2)}`, `555`, digits(4)];
      const f = Math.floor(next() * 5);
      const raw = [
        `(${a}) ${b}-${c}`,
        `${a}-${b}-${c}`,
        `${a}.${b}.${c}`,
        `+1 ${a} ${b} ${c}`,
        `1${a}${b}${c}`,
      ][f]!;
      return { raw, hints: { country: 'US' } };
    },
    () => {
      const rest = `7${digits(3)} ${digits(6)}`;
      return { raw: next() < 0.5 ? `0${rest}` : `+44 ${rest}`, hints: { country: 'GB' } };
    },
    () => {
      const rest = `15${digits(1)} ${digits(8)}`;
      return { raw: next() < 0.5 ? `0${rest}` : `+49 ${rest}`, hints: { country: 'DE' } };
    },
    () => {
      const rest = `6 ${digits(2)} ${digits(2)} ${digits(2)} ${digits(2)}`;
      return { raw: next() < 0.5 ? `0${rest}` : `+33 ${rest}`, hints: { country: 'FR' } };
    },
    // An international number on a profile whose country is another one.
    () => ({ raw: `+34 6${digits(2)} ${digits(3)} ${digits(3)}`, hints: { country: 'US' } }),
  ];
  const weights = [0.5, 0.7, 0.82, 0.94, 1];
  return Array.from({ length: n }, () => {
    const r = next();
    return formats[weights.findIndex((w) => r < w)]!();
  });
}

interface Rate {
  cpu: number;
  wall: number;
  usable: number;
  refused: number;
}

/**
 * Median rate over rounds of usable ids per CPU-second of this process (on a shared machine wall
 * time also counts other processes' turns; CPU time is what one core spent), and per wall-clock
 * second. Refused values cost time but do not count as work done.
 */
function measure(values: readonly Input[], rule: FieldRule, rounds = 5): Rate {
  const single = rule.single!.value;
  let sink = 0;
  let usable = 0;
  const once = () => {
    usable = 0;
    const cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (const v of values) {
      const out = single(v.raw, v.hints);
      if (out !== null) {
        usable++;
        sink += out.length;
      }
    }
    const wall = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu0);
    return { cpu: usable / ((used.user + used.system) / 1e6), wall: usable / wall };
  };
  once(); // warm-up: JIT, lazily built tables
  const runs = Array.from({ length: rounds }, once);
  if (sink === 0) throw new Error('nothing was hashed');
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return {
    cpu: median(runs.map((r) => r.cpu)),
    wall: median(runs.map((r) => r.wall)),
    usable,
    refused: values.length - usable,
  };
}

function reportRate(label: string, rate: Rate): void {
  report(`${label} (per CPU-second)`, rate.cpu, 'ids/s');
  report(`${label} (wall clock)`, rate.wall, 'ids/s');
  if (rate.refused > 0)
    process.stdout.write(`  ${rate.refused.toLocaleString('en-US')} values refused, not counted\n`);
}

function checkVector(
  platform: 'meta' | 'google' | 'tiktok',
  field: 'email' | 'phone',
  raw: string,
  hash: string,
) {
  const got = hashIdentifier(platform, field, raw, field === 'phone' ? { country: 'US' } : {}).keys[0]!.value;
  if (got !== hash) throw new Error(`${platform} ${field} vector mismatch`);
}

export async function run(args: string[]): Promise<void> {
  const count = arg(args, '--count', 1_000_000);
  // The CLI and matchKeys share these tables; check vectors so a broken build cannot look fast.
  checkVector(
    'meta',
    'email',
    ' User1@Example.com ',
    'b36a83701f1c3191e19722d6f90274bc1b5501fe69ebf33313e440fe4b0fe210',
  );
  checkVector(
    'google',
    'email',
    'Te.st+x@GMAIL.com',
    '87924606b4131a8aceeeae8868531fbb9712aaa07a5d3a756b26ce0f5d6ca674',
  );
  checkVector(
    'google',
    'phone',
    '(800) 555-0100',
    'fb4f73a6ec5fdb7077d564cdd22c3554b43ce49168550c3b12c547b78c517b30',
  );

  const emails = realisticEmails(count);
  const canonical = canonicalEmails(count);
  const phones = realisticPhones(Math.min(count, 200_000));
  process.stdout.write(
    `connectors: ${count.toLocaleString('en-US')} emails and ${phones.length.toLocaleString('en-US')} phones per round, ` +
      `one thread, median of 5 rounds; load average ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}\n`,
  );
  process.stdout.write('headline — realistic mixed input:\n');
  reportRate('meta email', measure(emails, metaRules.email!));
  reportRate('google email (gmail dots and +tags)', measure(emails, googleRules.email!));
  reportRate('tiktok email (+tags on every domain)', measure(emails, tiktokRules.email!));
  reportRate('meta phone (digits, country code)', measure(phones, metaRules.phone!));
  reportRate('google phone (E.164)', measure(phones, googleRules.phone!));
  reportRate('tiktok phone (digits, country code)', measure(phones, tiktokRules.phone!));

  process.stdout.write('partial — already-normalized emails (lowercase, no padding), not a headline:\n');
  reportRate('meta email, normalized input', measure(canonical, metaRules.email!));
  reportRate('google email, normalized input', measure(canonical, googleRules.email!));
  reportRate('tiktok email, normalized input', measure(canonical, tiktokRules.email!));

  const next = random(3);
  const persons: PersonRecord[] = Array.from({ length: Math.min(count, 200_000) }, (_, i) => ({
    customer_id: `c${i}`,
    email: emails[i]!.raw,
    phone: phones[i % phones.length]!.raw,
    first_name: mixedCase(FIRST[i % FIRST.length]!, next),
    last_name: surrounding(mixedCase(LAST[i % LAST.length]!, next), next),
    country: phones[i % phones.length]!.hints.country ?? 'US',
    postal_code: next() < 0.5 ? '94105-1234' : ' sw1a 1aa ',
    ts: '2026-11-28T00:00:00.000Z',
  }));
  let keys = 0;
  const start = process.hrtime.bigint();
  for (const p of persons) keys += Object.keys(metaConnector.matchKeys(p) ?? {}).length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  report('meta matchKeys, realistic person (7 fields)', persons.length / seconds, 'people/s');
  report('meta matchKeys keys produced', keys / seconds, 'keys/s');
  report('peak RSS', peakRssMiB(), 'MiB');
}
