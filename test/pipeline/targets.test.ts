import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseEnv } from '../../src/config/env.js';
import { loadAudienceSyncConfig } from '../../src/config-file.js';
import { createLogger } from '../../src/log.js';
import type { StageContext } from '../../src/pipeline/stages.js';
import { openTarget } from '../../src/pipeline/targets.js';
import { FsObjectStore } from '../../src/storage/fs-store.js';

/**
 * A real-time flush opens its destination with the platform's largest batch, whatever the
 * destination's `batch_size` (TikTok defaults to 1,000 of its 10,000): the flush's request budget
 * is ceil(n / batch max) + 1. Daily syncs keep `batch_size`.
 */
const CONFIG = `
version: 1
destinations:
  tiktok: { type: tiktok, advertiser_id: "7000000000", access_token: "t" }
  meta: { type: meta, ad_account_id: act_1, access_token: "m", batch_size: 500 }
audiences:
  - id: a
    type: segment
    when: { event: checkout_started, within_days: 7 }
    sync: [tiktok, meta]
`;

describe('openTarget', () => {
  let dir: string;
  let ctx: StageContext;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'targets-'));
    await writeFile(join(dir, 'audience-sync.yaml'), CONFIG);
    ctx = {
      store: new FsObjectStore(join(dir, 'store')),
      loaded: await loadAudienceSyncConfig(join(dir, 'audience-sync.yaml')),
      env: parseEnv({}),
      log: createLogger({ level: 'silent' }),
    };
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('keeps batch_size for daily syncs and takes the platform maximum for real-time flushes', () => {
    const open = (destination: string, largestBatches: boolean) =>
      openTarget(
        ctx,
        { audienceId: 'a', destination, kind: 'audience' },
        { dryRun: false, runId: 'r', largestBatches },
      ).batchSize;
    expect(open('tiktok', false)).toBe(1_000);
    expect(open('tiktok', true)).toBe(10_000);
    expect(open('meta', false)).toBe(500);
    expect(open('meta', true)).toBe(10_000);
  });
});
