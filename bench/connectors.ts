/**
 * `npm run bench -- connectors [--count N]`: normalized + hashed identifiers per second on one
 * core, through the same rule tables `matchKeys` and `audience-sync hash` use. Target for emails:
 * 2,000,000 per second per core. Each figure is the median of five rounds after a warm-up, as
 * ids per CPU-second of this process (what one core does) and per wall-clock second.
 */

import { loadavg } from 'node:os';
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

/**
 * Median rate over rounds, per CPU-second of this process: on a shared machine wall time also
 * counts other processes' turns, CPU time is what one core spent. Wall-clock rate is returned too.
 * `sink` keeps the work from being optimized away.
 */
function measure(values: readonly string[], rule: FieldRule, rounds = 5): { cpu: number; wall: number } {
  const single = rule.single!.value;
  let sink = 0;
  const once = () => {
    const cpu0 = process.cpuUsage();
    const start = process.hrtime.bigint();
    for (const v of values) sink += single(v, {})?.length ?? 0;
    const wall = Number(process.hrtime.bigint() - start) / 1e9;
    const used = process.cpuUsage(cpu0);
    return { cpu: values.length / ((used.user + used.system) / 1e6), wall: values.length / wall };
  };
  once(); // warm-up: JIT, lazily built tables
  const runs = Array.from({ length: rounds }, once);
  if (sink === 0) throw new Error('nothing was hashed');
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  return { cpu: median(runs.map((r) => r.cpu)), wall: median(runs.map((r) => r.wall)) };
}

function reportRate(label: string, rate: { cpu: number; wall: number }): void {
  report(`${label} (per CPU-second)`, rate.cpu, 'ids/s');
  report(`${label} (wall clock)`, rate.wall, 'ids/s');
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
    `connectors: ${count.toLocaleString('en-US')} emails per round, one thread, median of 5 rounds; load average ${loadavg()[0]!.toFixed(1)}\n`,
  );
  reportRate('meta email, canonical (as stored)', measure(canonical, metaRules.email!));
  reportRate('meta email, messy (trim + lowercase)', measure(messy, metaRules.email!));
  reportRate('google email (gmail rules), canonical', measure(canonical, googleRules.email!));
  reportRate('tiktok email (+suffix rule), canonical', measure(canonical, tiktokRules.email!));

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
