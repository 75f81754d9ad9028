/**
 * The Meta, Google Ads and TikTok fakes (test/fakes) in one process of their own, for
 * `bench/realtime.ts`: their CPU and memory are not the worker's, and they say when each watched
 * person left the platform audience.
 *
 * The fakes keep identities (not `countOnly`): the bench hands over each person's hashed email as
 * the platform stores it (`watch`), and after every response a fake sends (Node's
 * `http.server.response.finish` diagnostics channel) this process looks which watched people the
 * platform no longer holds and stamps them with the time (ms since the epoch, this machine's clock,
 * which the worker's run records use too). So a removal is stamped when the platform answered the
 * request that applied it; for Google, when it answered the status query that completed the job.
 * Every request a fake receives is logged with its arrival time, path and platform.
 *
 * Import only its types: importing the module starts the fakes.
 *
 * IPC: `ready` on start; `watch` → `watching` (how many watched people each platform holds now);
 * `status` → removals so far; `report` → removal times and the request log since `watch`; `close`.
 */
import { subscribe } from 'node:diagnostics_channel';
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFakeGoogleAds } from '../test/fakes/google-ads.js';
import { startFakeMeta } from '../test/fakes/meta.js';
import { startFakeTiktok } from '../test/fakes/tiktok.js';

export type Platform = 'meta' | 'google' | 'tiktok';

export interface FakesReady {
  type: 'ready';
  meta: { url: string; token: string };
  google: {
    url: string;
    tokenUrl: string;
    credentials: { client_id: string; client_secret: string; refresh_token: string; developer_token: string };
  };
  tiktok: { url: string; token: string; advertiserId: string };
}

/** Hashed emails as the platform stores them, in the bench's person order. */
export interface WatchMessage {
  type: 'watch';
  hashes: Record<Platform, string[]>;
}

export interface FakesWatching {
  type: 'watching';
  /** Watched people each platform holds when the watch starts. */
  held: Record<Platform, number>;
  /** People held by the platform audiences in all (watched or not). */
  audienceSizes: Record<Platform, number>;
}

export interface FakesStatus {
  type: 'status';
  removed: Record<Platform, number>;
}

export interface LoggedRequest {
  platform: Platform;
  at: number;
  method: string;
  path: string;
}

export interface FakesReport {
  type: 'report';
  /** Per platform, per watched person: when it was first seen gone (ms), or null. */
  removedAt: Record<Platform, (number | null)[]>;
  /** Requests received since `watch`. */
  requests: LoggedRequest[];
  shapeErrors: Record<Platform, string[]>;
  audienceSizes: Record<Platform, number>;
  maxRssKiB: number;
  cpuSeconds: number;
}

const HEX64 = /[0-9a-f]{64}/;

const meta = await startFakeMeta();
const google = await startFakeGoogleAds();
const tiktok = await startFakeTiktok();

const portOf = (url: string) => Number(new URL(url).port);
const byPort = new Map<number, Platform>([
  [portOf(meta.url), 'meta'],
  [portOf(google.url), 'google'],
  [portOf(tiktok.url), 'tiktok'],
]);

/** The hashed emails each platform's audiences hold now. */
function heldHashes(platform: Platform): Set<string> {
  const out = new Set<string>();
  if (platform === 'meta') {
    for (const a of meta.state.audiences.values()) {
      if (a.deleted) continue;
      for (const m of a.members.values()) if (m.EMAIL) out.add(m.EMAIL);
    }
  } else if (platform === 'google') {
    for (const l of google.state.lists.values()) {
      if (l.removed) continue;
      for (const identity of l.members) {
        const hash = HEX64.exec(identity)?.[0];
        if (hash) out.add(hash);
      }
    }
  } else {
    for (const a of tiktok.state.audiences.values()) {
      if (a.deleted) continue;
      for (const member of a.members) {
        const hash = HEX64.exec(member)?.[0];
        if (hash) out.add(hash);
      }
    }
  }
  return out;
}

function audienceSize(platform: Platform): number {
  if (platform === 'meta')
    return [...meta.state.audiences.values()].reduce((n, a) => n + (a.deleted ? 0 : a.members.size), 0);
  if (platform === 'google')
    return [...google.state.lists.values()].reduce((n, l) => n + (l.removed ? 0 : l.members.size), 0);
  return [...tiktok.state.audiences.values()].reduce((n, a) => n + (a.deleted ? 0 : a.members.size), 0);
}

interface Watch {
  hashes: string[];
  removedAt: (number | null)[];
  /** Indexes of people not yet seen gone. */
  left: Set<number>;
}
let watches: Record<Platform, Watch> | undefined;
const requests: LoggedRequest[] = [];

/** Stamps the watched people of `platform` the platform no longer holds. */
function look(platform: Platform, at: number): void {
  const w = watches?.[platform];
  if (!w || w.left.size === 0) return;
  const held = heldHashes(platform);
  for (const i of [...w.left]) {
    if (!held.has(w.hashes[i]!)) {
      w.removedAt[i] = at;
      w.left.delete(i);
    }
  }
}

function platformOf(server: unknown): Platform | undefined {
  const address = (server as Server | undefined)?.address?.() as AddressInfo | null | undefined;
  return address ? byPort.get(address.port) : undefined;
}

subscribe('http.server.request.start', (message) => {
  if (!watches) return;
  const { server, request } = message as { server: Server; request: IncomingMessage };
  const platform = platformOf(server);
  if (!platform) return;
  requests.push({
    platform,
    at: Date.now(),
    method: request.method ?? '',
    path: (request.url ?? '').split('?')[0]!,
  });
});
subscribe('http.server.response.finish', (message) => {
  const platform = platformOf((message as { server: Server }).server);
  if (platform) look(platform, Date.now());
});

function counts<T>(f: (p: Platform) => T): Record<Platform, T> {
  return { meta: f('meta'), google: f('google'), tiktok: f('tiktok') };
}

process.on('message', (message: { type?: string; hashes?: WatchMessage['hashes'] }) => {
  if (message?.type === 'watch' && message.hashes) {
    const hashes = message.hashes;
    watches = counts((p) => ({
      hashes: hashes[p],
      removedAt: hashes[p].map(() => null),
      left: new Set(hashes[p].map((_, i) => i)),
    }));
    requests.length = 0;
    const held = counts((p) => {
      const now = heldHashes(p);
      return hashes[p].filter((h) => now.has(h)).length;
    });
    const answer: FakesWatching = { type: 'watching', held, audienceSizes: counts(audienceSize) };
    process.send?.(answer);
  } else if (message?.type === 'status') {
    const answer: FakesStatus = {
      type: 'status',
      removed: counts((p) => (watches ? watches[p].hashes.length - watches[p].left.size : 0)),
    };
    process.send?.(answer);
  } else if (message?.type === 'report') {
    const usage = process.cpuUsage();
    const answer: FakesReport = {
      type: 'report',
      removedAt: counts((p) => watches?.[p].removedAt ?? []),
      requests,
      shapeErrors: {
        meta: meta.state.shapeErrors,
        google: google.state.shapeErrors,
        tiktok: tiktok.state.shapeErrors,
      },
      audienceSizes: counts(audienceSize),
      maxRssKiB: process.resourceUsage().maxRSS,
      cpuSeconds: (usage.user + usage.system) / 1e6,
    };
    process.send?.(answer);
  } else if (message?.type === 'close') {
    void closeAll().then(() => process.exit(0));
  }
});
process.on('disconnect', () => {
  void closeAll().then(() => process.exit(0));
});

async function closeAll(): Promise<void> {
  await Promise.all([meta.close(), google.close(), tiktok.close()]);
}

const ready: FakesReady = {
  type: 'ready',
  meta: { url: meta.url, token: meta.state.token },
  google: { url: google.url, tokenUrl: google.tokenUrl, credentials: google.credentials },
  tiktok: { url: tiktok.url, token: tiktok.state.token, advertiserId: tiktok.state.advertiserId },
};
process.send?.(ready);
