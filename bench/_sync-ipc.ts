/** Messages between `bench/sync.ts` and the fake platform process (`_fake-platform-server.ts`). */

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
