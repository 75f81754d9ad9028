/** The last path segment of a key (what incremental readers bookkeep per partition). */
export function fileName(key: string): string {
  return key.slice(key.lastIndexOf('/') + 1);
}

/** Names compaction writes: `part-c-<16 hex>.parquet` in raw partitions, `.jsonl.gz` in quarantine. */
export const COMPACTED_NAME_RE = /(?:^|\/)part-c-([0-9a-f]{16})\.(parquet|jsonl\.gz)$/;

/**
 * Whether a quarantine object holds the malformed lines compaction set aside. Those lines are
 * already counted where the raw parts are read (the manifest lists them), so counting them again
 * as quarantined records would count them twice.
 */
export function isCompactionQuarantine(key: string): boolean {
  return key.endsWith('.jsonl.gz') && COMPACTED_NAME_RE.test(key);
}
