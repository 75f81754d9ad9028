/**
 * One fake ad platform (test/fakes) in its own process, for `bench/sync.ts`: its memory and CPU
 * are not the sync's, and its figures are not the bench's. Started with the platform as argument
 * and an IPC channel; it answers `{ type: 'stats' }` with what it received since the last stats.
 *
 * The fake runs `countOnly`: it validates every request as the tests' fakes do, but keeps member
 * counts instead of identities, so ten million members cost it next to nothing.
 */
import { startFakeGoogleAds } from '../test/fakes/google-ads.js';
import { startFakeMeta } from '../test/fakes/meta.js';
import { startFakeTiktok } from '../test/fakes/tiktok.js';
import type { FakeReady, FakeStats, PlatformId, UploadCount } from './_sync-ipc.js';

const platform = process.argv[2] as PlatformId;

interface Running {
  ready: FakeReady;
  /** Requests recorded so far (bodies dropped once answered). */
  requests: () => number;
  /** Upload requests logged so far: operation, consent group (Google) and people. */
  uploads: () => { op: string; group?: string; rows: number }[];
  /** People held by the platform audience(s), and how many audiences exist. */
  held: () => { members: number; audiences: number };
  shapeErrors: () => string[];
  close: () => Promise<void>;
}

async function start(): Promise<Running> {
  if (platform === 'meta') {
    const fake = await startFakeMeta({ countOnly: true });
    return {
      ready: { type: 'ready', platform, url: fake.url, token: fake.state.token },
      requests: () => fake.requests.length,
      uploads: () => fake.state.uploads ?? [],
      held: () =>
        held([...fake.state.audiences.values()].filter((a) => !a.deleted).map((a) => a.counted ?? 0)),
      shapeErrors: () => fake.state.shapeErrors,
      close: fake.close,
    };
  }
  if (platform === 'google_ads') {
    const fake = await startFakeGoogleAds({ countOnly: true });
    return {
      ready: {
        type: 'ready',
        platform,
        url: fake.url,
        tokenUrl: fake.tokenUrl,
        token: fake.credentials.developer_token,
        google: fake.credentials,
      },
      requests: () => fake.requests.length,
      uploads: () => fake.state.uploads ?? [],
      held: () => held([...fake.state.lists.values()].filter((l) => !l.removed).map((l) => l.counted ?? 0)),
      shapeErrors: () => fake.state.shapeErrors,
      close: fake.close,
    };
  }
  if (platform === 'tiktok') {
    const fake = await startFakeTiktok({ countOnly: true });
    return {
      ready: {
        type: 'ready',
        platform,
        url: fake.url,
        token: fake.state.token,
        advertiserId: fake.state.advertiserId,
      },
      requests: () => fake.requests.length,
      uploads: () => fake.state.uploads ?? [],
      held: () =>
        held([...fake.state.audiences.values()].filter((a) => !a.deleted).map((a) => a.counted ?? 0)),
      shapeErrors: () => fake.state.shapeErrors,
      close: fake.close,
    };
  }
  throw new Error(`unknown platform ${String(platform)}`);
}

function held(sizes: number[]): { members: number; audiences: number } {
  return { members: sizes.reduce((a, b) => a + b, 0), audiences: sizes.length };
}

const running = await start();
let seenRequests = 0;
let seenUploads = 0;
let seenShapeErrors = 0;

process.on('message', (message: { type?: string }) => {
  if (message?.type === 'stats') {
    const requests = running.requests();
    const uploads = running.uploads();
    const byKind = new Map<string, UploadCount>();
    for (const u of uploads.slice(seenUploads)) {
      const key = `${u.op}\u0000${u.group ?? ''}`;
      const c = byKind.get(key) ?? { op: u.op, ...(u.group ? { group: u.group } : {}), requests: 0, rows: 0 };
      c.requests += 1;
      c.rows += u.rows;
      byKind.set(key, c);
    }
    const errors = running.shapeErrors();
    const stats: FakeStats = {
      type: 'stats',
      requests: requests - seenRequests,
      uploads: [...byKind.values()],
      ...running.held(),
      shapeErrors: errors.slice(seenShapeErrors, seenShapeErrors + 5),
      shapeErrorCount: errors.length - seenShapeErrors,
      maxRssKiB: process.resourceUsage().maxRSS,
      cpuSeconds: (process.cpuUsage().user + process.cpuUsage().system) / 1e6,
    };
    seenRequests = requests;
    seenUploads = uploads.length;
    seenShapeErrors = errors.length;
    process.send?.(stats);
  } else if (message?.type === 'close') {
    void running.close().then(() => process.exit(0));
  }
});
process.on('disconnect', () => {
  void running.close().then(() => process.exit(0));
});
process.send?.(running.ready);
