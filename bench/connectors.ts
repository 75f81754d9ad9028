/**
 * `npm run bench -- connectors [--count N]`: normalized + hashed identifiers per second on one
 * core, through the same rule tables `matchKeys` and `audience-sync hash` use. Target for emails:
 * 2,000,000 per second per core. Each figure is the median of five rounds after a warm-up.
 */

import type { FieldRule } from '../connectors/core/fields.js';
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

const DOMAINS = [
  'gmail.com',
  'example.com',
  'yahoo.co.uk',
  'shop.example.org',
  'googlemail.com',
  'outlook.com',
];

function emails(n: number, messy: boolean): string[] {
  return Array.from({ length: n }, (_, i) => {
    const local = `first.last${i}${i % 7 === 0 ? '+promo' : ''}`;
    const domain = DOMAINS[i % DOMAINS.length]!;
    return messy
      ? `  ${local.charAt(0).toUpperCase()}${local.slice(1)}@${domain.toUpperCase()} `
      : `${local}@${domain}`;
  });
}

/** Median rate over rounds; `sink` keeps the work from being optimized away. */
function measure(values: readonly string[], rule: FieldRule, rounds = 5): number {
  const single = rule.single!.value;
  let sink = 0;
  const once = () => {
    const start = process.hrtime.bigint();
    for (const v of values) sink += single(v, {})?.length ?? 0;
    return values.length / (Number(process.hrtime.bigint() - start) / 1e9);
  };
  once(); // warm-up: JIT, lazily built tables
  const rates = Array.from({ length: rounds }, once).sort((a, b) => a - b);
  if (sink === 0) throw new Error('nothing was hashed');
  return rates[Math.floor(rates.length / 2)]!;
}

export async function run(args: string[]): Promise<void> {
  const count = arg(args, '--count', 1_000_000);
  // The CLI and matchKeys share these tables; check one vector so a broken build cannot look fast.
  if (
    hashIdentifier('meta', 'email', 'user1@example.com').keys[0]!.value !==
    'b36a83701f1c3191e19722d6f90274bc1b5501fe69ebf33313e440fe4b0fe210'
  ) {
    throw new Error('meta email vector mismatch');
  }
  const canonical = emails(count, false);
  const messy = emails(count, true);
  process.stdout.write(
    `connectors: ${count.toLocaleString('en-US')} emails per round, one core (median of 5 rounds)\n`,
  );
  report('meta email, canonical (as stored), per core', measure(canonical, metaRules.email!), 'ids/s');
  report('meta email, messy (trim + lowercase), per core', measure(messy, metaRules.email!), 'ids/s');
  report('google email (gmail rules), canonical, per core', measure(canonical, googleRules.email!), 'ids/s');
  report('tiktok email (+suffix rule), canonical, per core', measure(canonical, tiktokRules.email!), 'ids/s');

  const persons: PersonRecord[] = Array.from({ length: Math.min(count, 200_000) }, (_, i) => ({
    customer_id: `c${i}`,
    email: canonical[i]!,
    phone: `+1415555${String(i % 10_000).padStart(4, '0')}`,
    first_name: 'Jane',
    last_name: 'Doe',
    country: 'US',
    postal_code: '94105',
    ts: '2026-11-28T00:00:00.000Z',
  }));
  let keys = 0;
  const start = process.hrtime.bigint();
  for (const p of persons) keys += Object.keys(metaConnector.matchKeys(p) ?? {}).length;
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  report('meta matchKeys, person with 7 keys (phone parse incl.)', persons.length / seconds, 'people/s');
  report('meta matchKeys keys produced', keys / seconds, 'keys/s');
  report('peak RSS', peakRssMiB(), 'MiB');
}
