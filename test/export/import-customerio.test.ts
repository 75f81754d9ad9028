import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { importCustomerIo } from '../../src/export/customerio/import.js';
import { customerIoImportSchema } from '../../src/export/customerio/mapping.js';
import { listKeys } from '../../src/storage/object-store.js';
import { createFsTestStore, createS3TestStore, type TestStore } from '../helpers/stores.js';
import { readAll } from '../ingest/harness.js';
import { putDataOut } from './data-out-fixtures.js';

const T0 = new Date('2026-11-27T10:00:00.000Z');
const T1 = new Date('2026-11-28T09:30:00.000Z');

describe('Customer.io Data Out import (S3 source → store)', () => {
  let source: TestStore;
  let target: TestStore;

  beforeEach(async () => {
    source = await createS3TestStore({ prefix: 'cio-data-out' });
    target = await createFsTestStore();
  });
  afterEach(async () => {
    await source.cleanup();
    await target.cleanup();
  });

  async function firstExport(): Promise<void> {
    await putDataOut(source.store, 'deliveries_v4_100_1.parquet', 'deliveries', [
      {
        workspace_id: 1,
        delivery_id: 'd-1',
        internal_customer_id: 'cio-a',
        delivery_type: 'email',
        campaign_id: 5,
        action_id: 9,
        created_at: T0,
      },
      {
        workspace_id: 1,
        delivery_id: 'd-2',
        internal_customer_id: 'cio-b',
        delivery_type: 'sms',
        newsletter_id: 3,
        created_at: T1,
      },
      // No person at all: cannot be mapped, quarantined.
      {
        workspace_id: 1,
        delivery_id: 'd-3',
        internal_customer_id: null,
        delivery_type: 'email',
        created_at: T1,
      },
    ]);
    await putDataOut(source.store, 'metrics_v4_100_1.parquet', 'metrics', [
      { event_id: 'm-1', workspace_id: 1, delivery_id: 'd-1', metric: 'sent', created_at: T0 },
      {
        event_id: 'm-2',
        workspace_id: 1,
        delivery_id: 'd-1',
        metric: 'clicked',
        link_url: 'https://shop.example.com/x',
        created_at: T1,
      },
      { event_id: 'm-3', workspace_id: 1, delivery_id: 'd-2', metric: 'delivered', created_at: T1 },
      // A delivery we never saw: no person, quarantined.
      { event_id: 'm-4', workspace_id: 1, delivery_id: 'd-unknown', metric: 'opened', created_at: T1 },
    ]);
    await putDataOut(
      source.store,
      'people_v4_100_1.parquet',
      'people',
      [
        {
          workspace_id: 1,
          customer_id: 'alice',
          internal_customer_id: 'cio-a',
          deleted: false,
          suppressed: false,
          updated_at: T1,
        },
        {
          workspace_id: 1,
          customer_id: 'bob',
          internal_customer_id: 'cio-b',
          deleted: false,
          suppressed: true,
          updated_at: T1,
        },
        {
          workspace_id: 1,
          customer_id: 'carol',
          internal_customer_id: 'cio-c',
          deleted: true,
          suppressed: false,
          updated_at: T1,
        },
        // Deleted people can lose their customer id: nothing to key a person update on.
        {
          workspace_id: 1,
          customer_id: null,
          internal_customer_id: 'cio-d',
          deleted: true,
          suppressed: false,
          updated_at: T1,
        },
      ],
      [{ name: 'plan_tier', type: 'STRING' }],
    );
    // Types we do not import are listed as skipped.
    await putDataOut(source.store, 'subjects_v4_100_1.parquet', 'people', []);
  }

  it('maps Deliveries, Metrics and People to canonical records, joined and partitioned by day', async () => {
    await firstExport();
    const result = await importCustomerIo({ source: source.store, store: target.store });
    expect(result).toMatchObject({ imported: 3, failed: 0, rows: 11, written: 8, quarantined: 3 });
    expect(result.files.map((f) => [f.key, f.type, f.status])).toEqual([
      ['deliveries_v4_100_1.parquet', 'deliveries', 'imported'],
      ['metrics_v4_100_1.parquet', 'metrics', 'imported'],
      ['people_v4_100_1.parquet', 'people', 'imported'],
      ['subjects_v4_100_1.parquet', 'unknown', 'skipped'],
    ]);
    expect(result.files.find((f) => f.type === 'people')!.unexpected_columns).toEqual(['plan_tier']);

    const messages = (await readAll<Record<string, unknown>>(target.store, 'raw/messages/')).map(
      (r) => r.record,
    );
    expect(messages.find((m) => m.id === 'cio-delivery-d-1')).toMatchObject({
      cio_id: 'cio-a',
      channel: 'email',
      metric: 'created',
      delivery_id: 'd-1',
      campaign_id: '5',
      action_id: '9',
      ts: T0.toISOString(),
      source: 'customerio_data_out',
    });
    // Metrics rows carry no person: it comes from their delivery.
    expect(messages.find((m) => m.id === 'm-2')).toMatchObject({
      cio_id: 'cio-a',
      channel: 'email',
      metric: 'clicked',
      campaign_id: '5',
      href: 'https://shop.example.com/x',
      ts: T1.toISOString(),
    });
    expect(messages.find((m) => m.id === 'm-3')).toMatchObject({
      cio_id: 'cio-b',
      channel: 'sms',
      newsletter_id: '3',
    });
    expect(await listKeys(target.store, 'raw/messages/dt=2026-11-27/')).toHaveLength(2); // d-1 created, m-1 sent
    expect(messages.filter((m) => String(m.ts).startsWith('2026-11-27'))).toHaveLength(2);

    const people = (await readAll<Record<string, unknown>>(target.store, 'raw/people/')).map((r) => r.record);
    expect(people).toEqual(
      expect.arrayContaining([
        { customer_id: 'alice', cio_id: 'cio-a', deleted: false, ts: T1.toISOString() },
        { customer_id: 'bob', cio_id: 'cio-b', deleted: true, ts: T1.toISOString() },
        { customer_id: 'carol', cio_id: 'cio-c', deleted: true, ts: T1.toISOString() },
      ]),
    );
    expect(people).toHaveLength(3);

    const quarantined = (await readAll<Record<string, unknown>>(target.store, 'quarantine/')).map(
      (r) => r.record,
    );
    expect(
      quarantined.map((q) => [q.source_key, q.row, (q.reasons as { code: string }[])[0]!.code]).sort(),
    ).toEqual([
      ['deliveries_v4_100_1.parquet', 2, 'missing_person_key'],
      ['metrics_v4_100_1.parquet', 3, 'missing_person_key'],
      ['people_v4_100_1.parquet', 3, 'missing_person_key'],
    ]);
  });

  it('imports nothing twice: a re-run only picks up new files', async () => {
    await firstExport();
    await importCustomerIo({ source: source.store, store: target.store });
    const before = await listKeys(target.store, 'raw/');
    const again = await importCustomerIo({ source: source.store, store: target.store });
    expect(again.imported).toBe(0);
    expect(again.files.filter((f) => f.status === 'already_imported')).toHaveLength(3);
    expect(await listKeys(target.store, 'raw/')).toEqual(before);

    // The next export brings a late metric for a delivery imported in the first run: the
    // delivery index still knows its person.
    await putDataOut(source.store, 'metrics_v4_100_2.parquet', 'metrics', [
      { event_id: 'm-9', workspace_id: 1, delivery_id: 'd-2', metric: 'clicked', created_at: T1 },
    ]);
    const third = await importCustomerIo({ source: source.store, store: target.store });
    expect(third.files.filter((f) => f.status === 'imported').map((f) => f.key)).toEqual([
      'metrics_v4_100_2.parquet',
    ]);
    const messages = (await readAll<Record<string, unknown>>(target.store, 'raw/messages/')).map(
      (r) => r.record,
    );
    expect(messages.find((m) => m.id === 'm-9')).toMatchObject({ cio_id: 'cio-b', channel: 'sms' });
    expect(messages.filter((m) => m.id === 'm-2')).toHaveLength(1);
  });

  it('keeps going past an unreadable file and retries it on the next run', async () => {
    await firstExport();
    await source.store.put('metrics_v4_100_0.parquet', 'this is not parquet');
    const result = await importCustomerIo({ source: source.store, store: target.store });
    expect(result.failed).toBe(1);
    expect(result.files.find((f) => f.key === 'metrics_v4_100_0.parquet')).toMatchObject({
      status: 'failed',
    });
    expect(result.imported).toBe(3);
    const next = await importCustomerIo({ source: source.store, store: target.store });
    expect(next.files.find((f) => f.key === 'metrics_v4_100_0.parquet')!.status).toBe('failed');
    expect(next.imported).toBe(0);
  });

  it('follows a column mapping from the YAML for columns whose names are not confirmed', async () => {
    await putDataOut(
      source.store,
      'exports/deliveries_1.parquet',
      'deliveries',
      [
        {
          workspace_id: 1,
          delivery_id: 'd-7',
          internal_customer_id: 'cio-z',
          channel_name: 'push',
          sent_time: T1,
        },
      ],
      [
        { name: 'channel_name', type: 'STRING' },
        { name: 'sent_time', type: 'TIMESTAMP' },
      ],
      { omit: ['delivery_type', 'created_at'] },
    );
    const config = customerIoImportSchema.parse({
      deliveries: { columns: { channel: 'channel_name', ts: ['sent_at', 'sent_time'] }, metric: 'drafted' },
    });
    const scratch = await createFsTestStore();
    const defaults = await importCustomerIo({ source: source.store, store: scratch.store });
    await scratch.cleanup();
    // With the default mapping the row has no channel or time: quarantined, and the columns reported.
    expect(defaults.files[0]).toMatchObject({
      written: 0,
      quarantined: 1,
      unexpected_columns: ['channel_name', 'sent_time'],
    });

    const result = await importCustomerIo({ source: source.store, store: target.store, config });
    expect(result.files[0]).toMatchObject({ written: 1, quarantined: 0, unexpected_columns: [] });
    const [message] = await readAll<Record<string, unknown>>(target.store, 'raw/messages/');
    expect(message!.record).toMatchObject({
      channel: 'push',
      metric: 'drafted',
      ts: T1.toISOString(),
      cio_id: 'cio-z',
    });
  });

  it('writes parts in bounded chunks named from the file, so a re-import overwrites them', async () => {
    const rows = Array.from({ length: 25 }, (_, i) => ({
      workspace_id: 1,
      customer_id: `p${i}`,
      internal_customer_id: `cio${i}`,
      deleted: i % 5 === 0,
      suppressed: false,
      updated_at: T1,
    }));
    await putDataOut(source.store, 'people_big.parquet', 'people', rows);
    await importCustomerIo({ source: source.store, store: target.store, chunkRows: 10 });
    const keys = await listKeys(target.store, 'raw/people/');
    expect(keys).toHaveLength(3);
    expect(
      keys.every((k) => /^raw\/people\/dt=2026-11-28\/part-cio[0-9a-f]{16}-000[0-2]\.jsonl\.gz$/.test(k)),
    ).toBe(true);
    // Forget the import state (as after a crash before it was saved): the same parts are rewritten.
    await target.store.delete(
      (await listKeys(target.store, 'imports/')).filter((k) => k.endsWith('imported.jsonl.gz')),
    );
    await importCustomerIo({ source: source.store, store: target.store, chunkRows: 10 });
    expect(await listKeys(target.store, 'raw/people/')).toEqual(keys);
    const people = await readAll<Record<string, unknown>>(target.store, 'raw/people/');
    expect(people).toHaveLength(25);
    expect(people.filter((p) => p.record.deleted === true)).toHaveLength(5);
  });
});
