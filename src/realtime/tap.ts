import type { IngestBuffer } from '../ingest/buffer.js';
import type { Logger } from '../log.js';
import { type RealtimeSignal, type SignalMatcher, signalsOf } from './signals.js';

export interface RealtimeIngest {
  matcher: SignalMatcher;
  /** Queues the signals of one ingest call (one job, ids only). */
  enqueue(signals: RealtimeSignal[]): Promise<void>;
}

/**
 * Every ingest route buffers through `IngestBuffer.add`, so the real-time triggers are matched
 * there, once, for whatever route accepted the records. The records are stored first; a signal that
 * cannot be queued is logged (a count, no ids) and left to the next daily sync, which reconciles.
 */
export function tapBuffer(buffer: IngestBuffer, realtime: RealtimeIngest, log: Logger): void {
  if (realtime.matcher.empty) return;
  const add = buffer.add.bind(buffer);
  buffer.add = async (items) => {
    const result = await add(items);
    const signals = signalsOf(items, result.statuses, realtime.matcher, Date.now());
    if (signals.length > 0) {
      await realtime.enqueue(signals).catch((error: unknown) => {
        log.warn(
          { signals: signals.length, errorType: (error as Error)?.name },
          'real-time signals could not be queued; the daily sync reconciles',
        );
      });
    }
    return result;
  };
}
