import { type ChildProcess, spawn } from 'node:child_process';

/**
 * Messages between the fake platform process (`_fake-platform-server.ts`) and who started it
 * (`bench/sync.ts`, `test/sync/memory.test.ts`), and the starter both use.
 */

export type PlatformId = 'meta' | 'google_ads' | 'tiktok';

export interface FakeReady {
  type: 'ready';
  platform: PlatformId;
  url: string;
  /** Google's OAuth token endpoint. */
  tokenUrl?: string;
  /** The access token the fake accepts (Meta, TikTok) or Google's developer token. */
  token: string;
  advertiserId?: string;
  google?: { client_id: string; client_secret: string; refresh_token: string; developer_token: string };
}

/** Upload requests of one operation (and, for Google, one consent group). */
export interface UploadCount {
  op: string;
  /** Google: the job's consent `adUserData/adPersonalization`, `-` for removal jobs. */
  group?: string;
  requests: number;
  /** People the requests carried. */
  rows: number;
}

/** What the fake received since the previous stats, and what it holds now. */
export interface FakeStats {
  type: 'stats';
  requests: number;
  uploads: UploadCount[];
  /** People held by the platform's audiences (count-only: added minus removed). */
  members: number;
  audiences: number;
  shapeErrors: string[];
  shapeErrorCount: number;
  /** Peak RSS of the fake's process so far. */
  maxRssKiB: number;
  /** CPU time (user + system) of the fake's process so far, in seconds. */
  cpuSeconds: number;
}

export interface FakeProcess {
  ready: FakeReady;
  /** What the fake received since the previous call. */
  stats(): Promise<FakeStats>;
  close(): Promise<void>;
}

const FAKE_SERVER = new URL('./_fake-platform-server.ts', import.meta.url).pathname;

/** The fake platform in a process of its own, so its memory is not the measured process's. */
export async function startFakePlatform(
  platform: PlatformId,
  options: { stdout?: 'inherit' | 'ignore' } = {},
): Promise<FakeProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', FAKE_SERVER, platform], {
    stdio: ['ignore', options.stdout ?? 'inherit', 'inherit', 'ipc'],
  });
  const { next, ask, close } = ipcChild(child, 'the fake platform');
  const ready = await next<FakeReady>('ready');
  return {
    ready,
    stats: () => ask<FakeStats>('stats', { type: 'stats' }),
    close,
  };
}

/**
 * Messages with a child process started with an `ipc` channel: `next` waits for a message of a
 * type, `ask` sends one and waits for the answer, `close` asks it to exit (SIGKILL after 5 s).
 */
export function ipcChild(child: ChildProcess, label: string) {
  const next = <T>(type: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (m: { type?: string }) => {
        if (m?.type !== type) return;
        child.off('message', onMessage);
        child.off('exit', onExit);
        resolve(m as T);
      };
      const onExit = (code: number | null) => reject(new Error(`${label} exited (${code})`));
      child.on('message', onMessage);
      child.once('exit', onExit);
    });
  return {
    next,
    ask<T>(type: string, message: object): Promise<T> {
      const answer = next<T>(type);
      child.send(message);
      return answer;
    },
    async close(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.send({ type: 'close' });
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await gone;
      clearTimeout(timer);
    },
  };
}
