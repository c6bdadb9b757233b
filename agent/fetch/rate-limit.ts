/**
 * A token bucket for metered links: `take(n)` resolves when n bytes may be
 * written. The bucket holds at most one second of tokens, so a pause does not
 * allow a burst later. Reading slower makes TCP slow the sender down.
 */
import { sleep } from './backoff.js';

export interface RateLimiter {
  take(bytes: number, signal?: AbortSignal): Promise<void>;
}

export const unlimited: RateLimiter = { take: () => Promise.resolve() };

export function createRateLimiter(bytesPerSecond: number | undefined, now: () => number = () => performance.now()): RateLimiter {
  if (bytesPerSecond === undefined || bytesPerSecond <= 0) return unlimited;
  let tokens = bytesPerSecond;
  let last = now();
  return {
    async take(bytes: number, signal?: AbortSignal): Promise<void> {
      const t = now();
      tokens = Math.min(bytesPerSecond, tokens + ((t - last) / 1000) * bytesPerSecond);
      last = t;
      tokens -= bytes;
      if (tokens < 0) await sleep((-tokens / bytesPerSecond) * 1000, signal);
    },
  };
}
