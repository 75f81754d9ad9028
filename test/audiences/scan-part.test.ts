import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type DatasetSpec, NEW_PERSON, type PartScan, PartScanner } from '../../src/audiences/scan-part.js';
import { PersonIndex, UNKNOWN } from '../../src/people/person-index.js';
import { ev, msg } from './fixtures.js';

const D = '2026-03-10';
const T = '2026-03-10T01:00:00.000Z';

function gz(lines: (object | string)[]): Buffer {
  return gzipSync(lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n'));
}

function people(list: { customer_id: string; email?: string; cio_id?: string; merged_ids?: string[] }[]) {
  const builder = PersonIndex.builder(list.length);
  list.forEach((p, i) => {
    builder.add(p, i);
  });
  return builder.finish();
}

const events: DatasetSpec = {
  dataset: 'events',
  lastDay: D,
  sources: [{ event: 'cart', fromDay: D, props: ['value'] }],
};

/** Ids of the relevant records, in order. */
function ids(scan: PartScan): number[] {
  return Array.from({ length: scan.records.count }, (_, i) => scan.records.person[i]!);
}

describe('PartScanner', () => {
  it('counts every line across decoded slices (empty lines included) and numbers malformed lines exactly', async () => {
    const lines: (object | string)[] = [];
    for (let i = 1; i <= 3000; i++) {
      if (i % 500 === 250) lines.push('');
      else if (i === 2345) lines.push('{"id":"broken","name":"cart",');
      else lines.push(ev(`e${i}`, 'a', i % 3 === 0 ? 'cart' : 'view', T, { value: i, pad: 'é'.repeat(100) }));
    }
    const bytes = gz(lines); // about 700 KB of text: several slices
    const scanner = new PartScanner(events, people([{ customer_id: 'a' }]), 10);
    const whole = await scanner.scanCompressed(bytes);
    expect(whole.lines).toBe(3000);
    expect(whole.malformed).toEqual([{ line: 2345, reason: 'not valid JSON' }]);
    const carts = lines.filter((l) => typeof l === 'object' && (l as { name: string }).name === 'cart');
    expect(whole.records.count).toBe(carts.length);
    // Values are read from properties through the UTF-8 text intact.
    expect(whole.records.values[0]).toBe(3);

    // The streamed path (large or damaged parts) gives the same answer.
    const streamed = await scanner.scanGzipStream(Readable.from([bytes]));
    expect(streamed.lines).toBe(3000);
    expect(streamed.malformed).toEqual(whole.malformed);
    expect(streamed.records.count).toBe(whole.records.count);
  });

  it('finds and reads lines with non-ASCII names and values exactly', async () => {
    const spec: DatasetSpec = {
      ...events,
      sources: [{ event: 'café', fromDay: D, props: [] }],
    };
    const lines = [
      ev('1', 'a', 'cafe', T),
      ev('2', 'a', 'café', T, { note: '日本語' }),
      ev('3', 'b', 'café', T),
    ];
    const scan = await new PartScanner(
      spec,
      people([{ customer_id: 'a' }, { customer_id: 'b' }]),
      10,
    ).scanCompressed(gz(lines));
    expect(scan.parsed).toBe(2);
    expect(ids(scan)).toEqual([0, 1]);
  });

  it('counts a trailing newline as the end of the last line, not a line of its own', async () => {
    const scanner = new PartScanner(events, people([]), 10);
    const withNewline = gzipSync(`${JSON.stringify(ev('1', 'a', 'cart', T))}\n\n`);
    expect((await scanner.scanCompressed(withNewline)).lines).toBe(2);
    expect((await scanner.scanCompressed(gzipSync(''))).lines).toBe(0);
  });

  it('finds message pairs by their rarer field and checks the whole pair before counting', async () => {
    const spec: DatasetSpec = {
      dataset: 'messages',
      lastDay: D,
      sources: [
        { message: { channel: 'sms', metric: 'delivered' }, fromDay: D, props: [] },
        { message: { channel: 'email', metric: 'opened' }, fromDay: D, props: [] },
      ],
    };
    const lines = [
      ...Array.from({ length: 50 }, (_, i) => msg(`d${i}`, 'a', 'email', 'delivered', T)),
      msg('s1', 'b', 'sms', 'delivered', T),
      msg('s2', 'b', 'sms', 'sent', T),
      msg('o1', 'c', 'email', 'opened', T),
      msg('o2', 'c', 'sms', 'opened', T),
      // Damage is reported even on lines no rule would read.
      'not json at all',
      '{"id":"cut","channel":"email","metric":"sent","ts":"20',
    ];
    const index = people([{ customer_id: 'a' }, { customer_id: 'b' }, { customer_id: 'c' }]);
    const scan = await new PartScanner(spec, index, 10).scanCompressed(gz(lines));
    // Only the two records of an accepted pair were parsed and kept.
    expect(scan.parsed).toBe(2);
    expect(scan.malformed).toEqual([
      { line: 55, reason: 'not valid JSON' },
      { line: 56, reason: 'not valid JSON' },
    ]);
    expect(ids(scan)).toEqual([1, 2]);
    expect(Array.from(scan.records.sourceList)).toEqual([0, 1]);
  });

  it('reads every line when a message selector pins neither channel nor metric', async () => {
    const spec: DatasetSpec = {
      dataset: 'messages',
      lastDay: D,
      sources: [
        { message: { channel: 'sms', metric: 'delivered' }, fromDay: D, props: [] },
        { message: { campaign_id: 7 }, fromDay: D, props: [] },
      ],
    };
    const lines = [
      msg('1', 'a', 'email', 'sent', T, { campaign_id: '7' }),
      msg('2', 'a', 'email', 'sent', T, { campaign_id: '8' }),
      msg('3', 'a', 'sms', 'delivered', T),
    ];
    const scan = await new PartScanner(spec, people([{ customer_id: 'a' }]), 10).scanCompressed(gz(lines));
    expect(scan.parsed).toBe(3);
    expect(Array.from(scan.records.sourceList)).toEqual([1, 0]);
  });

  it('resolves people through the person index and marks ids the snapshot lacks', async () => {
    const index = people([
      { customer_id: 'a', email: 'ann@example.com', cio_id: 'cio-a' },
      { customer_id: 'b', merged_ids: ['anon-1'] },
    ]);
    const lines = [
      ev('1', 'a', 'cart', T),
      ev('2', 'anon-1', 'cart', T),
      ev('3', { email: 'ANN@example.com' }, 'cart', T),
      ev('4', 'stranger', 'cart', T),
      ev('5', { email: 'nobody@example.com' }, 'cart', T),
    ];
    const scan = await new PartScanner(events, index, 10).scanCompressed(gz(lines));
    expect(ids(scan)).toEqual([0, 1, 0, NEW_PERSON, UNKNOWN]);
    expect(scan.records.newIds).toEqual(['stranger']);
  });
});

describe('PersonIndex', () => {
  it('follows the identity rules: first owner of an email or cio_id keeps it, an alias beats an own id', () => {
    const index = people([
      { customer_id: 'a', email: 'shared@example.com', cio_id: 'c1' },
      { customer_id: 'b', email: 'shared@example.com', cio_id: 'c2', merged_ids: ['a-old', 'c'] },
      { customer_id: 'c', merged_ids: ['a-old'] },
    ]);
    expect(index.byContact('shared@example.com', undefined)).toBe(0);
    expect(index.byContact('Shared@Example.com', 'c2')).toBe(0);
    expect(index.byContact('unknown@example.com', 'c2')).toBe(1);
    expect(index.byContact(undefined, 'c3')).toBe(UNKNOWN);
    expect(index.byContact('', '')).toBe(UNKNOWN);
    // 'c' was aliased into b: records under c count for b; the first alias of a-old wins.
    expect(index.byCustomerId('c')).toBe(1);
    expect(index.byCustomerId('a-old')).toBe(1);
    expect(index.byCustomerId('a')).toBe(0);
    expect(index.byCustomerId('zed')).toBe(UNKNOWN);
  });

  it('grows past its initial size and is readable from its shared buffers', () => {
    const builder = PersonIndex.builder(1);
    for (let i = 0; i < 5000; i++) builder.add({ customer_id: `cus_${i}`, email: `p${i}@example.com` }, i);
    const index = PersonIndex.attach(builder.finish().data);
    expect(index.byCustomerId('cus_4321')).toBe(4321);
    expect(index.byContact('p77@example.com', undefined)).toBe(77);
    expect(index.data.customerIds).toBeInstanceOf(SharedArrayBuffer);
  });
});
