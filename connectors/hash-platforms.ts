/** The platforms whose identifier rules `audience-sync hash` applies (hash-identifier.ts runs them). */
export const HASH_PLATFORMS = ['meta', 'google', 'tiktok'] as const;
export type HashPlatform = (typeof HASH_PLATFORMS)[number];
