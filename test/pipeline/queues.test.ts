import { describe, expect, it } from 'vitest';
import { QUEUES, queueNames } from '../../src/pipeline/queues.js';

describe('the queue registry', () => {
  it('lists every shared queue, then each destination’s sync and real-time flush queues', () => {
    expect(queueNames(['meta', 'cio'])).toEqual([
      'refresh',
      'compact',
      'people',
      'build',
      'measure',
      'privacy-erasure',
      'retention',
      'realtime',
      'export',
      'import-customerio',
      'health',
      'sync-meta',
      'realtime-meta',
      'sync-cio',
      'realtime-cio',
    ]);
  });

  it('names each queue once, so metrics and the dashboard show it once', () => {
    const names = queueNames(['meta']);
    expect(new Set(names).size).toBe(names.length);
    expect(names).toContain(QUEUES.import);
  });
});
