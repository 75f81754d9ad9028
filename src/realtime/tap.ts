import type { BufferStatus } from '../ingest/buffer.js';
import type { BufferItem } from '../ingest/items.js';
import type { Logger } from '../log.js';
import { type RealtimeSignal, type SignalMatcher, signalsOf } from './signals.js';

export interface RealtimeIngest {
  matcher: SignalMatcher;
  /** Queues the signals of one ingest call (one job, ids only). */
  enqueue(signals: RealtimeSignal[]): Promise<void>;
}

/**
 * The ingest buffer's `afterAdd`: every ingest route buffers through `IngestBuffer.add`, so the
 * real-time triggers are matched there, once, for whatever route accepted the records, after they
 * are stored. A signal that cannot be queued is logged (a count, no ids) and left to the next daily
 * sync, which reconciles. Undefined when no trigger can match anything.
 */
export function realtimeAfterAdd(
  realtime: RealtimeIngest,
  log: Logger,
): ((items: readonly BufferItem[], statuses: readonly BufferStatus[]) => Promise<void>) | undefined {
  if (realtime.matcher.empty) return undefined;
  return async (items, statuses) => {
    const signals = signalsOf(items, statuses, realtime.matcher, Date.now());
    if (signals.length === 0) return;
    await realtime.enqueue(signals).catch((error: unknown) => {
      log.warn(
        { signals: signals.length, errorType: (error as Error)?.name },
        'real-time signals could not be queued; the daily sync reconciles',
      );
    });
  };
}
