import type { Redis } from 'ioredis';
import { describeRedisEndpoint, scrubRedisSecrets } from './scrub.js';

/**
 * Waits until `redis` is ready for commands (connected, TLS done, authenticated, database
 * selected), connecting it first when it was created with `lazyConnect`. Rejects after `timeoutMs`,
 * or when the client gives up, with a message naming the server but never its credentials.
 */
export async function waitForRedisReady(redis: Redis, timeoutMs: number): Promise<void> {
  if (redis.status === 'ready') return;
  const where = describeRedisEndpoint(redis.options);
  if (redis.status === 'end') throw new Error(`${where}: the connection is closed`);
  let lastError: string | undefined;
  const because = () => (lastError ? `: ${scrubRedisSecrets(lastError, redis.options)}` : '');
  const onError = (error: Error) => {
    lastError = error.message;
  };
  let onReady = () => {};
  let onEnd = () => {};
  let timer: NodeJS.Timeout | undefined;
  redis.on('error', onError);
  try {
    await new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onEnd = () => reject(new Error(`${where} closed the connection before it was ready${because()}`));
      timer = setTimeout(
        () => reject(new Error(`${where} was not ready within ${timeoutMs} ms${because()}`)),
        timeoutMs,
      );
      redis.once('ready', onReady);
      redis.once('end', onEnd);
      // Failures arrive as 'error' / 'end' events (or the timeout): the promise itself adds nothing.
      if (redis.status === 'wait') redis.connect().catch(() => {});
    });
  } finally {
    clearTimeout(timer);
    redis.off('error', onError);
    redis.off('ready', onReady);
    redis.off('end', onEnd);
  }
}
