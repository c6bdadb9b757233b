/**
 * Exponential backoff with "equal jitter": attempt n waits between half and
 * all of min(maxMs, baseMs * 2^(n-1)), so a fleet cut off at once does not
 * come back at once. The budget counts consecutive failures that made no
 * progress: a link cut every megabyte keeps going as long as bytes arrive.
 */
export interface RetryPolicy {
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  /** Consecutive failures without a byte of progress before giving up. */
  readonly maxConsecutiveFailures: number;
  /** Failures in total for one blob, progress or not: a hard bound on the loop. */
  readonly maxTotalFailures: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  baseDelayMs: 500,
  maxDelayMs: 60_000,
  maxConsecutiveFailures: 8,
  maxTotalFailures: 10_000,
};

export function backoffDelay(attempt: number, policy: RetryPolicy, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

/** Waits `ms`; rejects with the signal's reason as soon as `signal` aborts (a daemon stopping, a superseded update). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal === undefined) return new Promise((resolve) => setTimeout(resolve, ms));
  return new Promise((resolve, reject) => {
    if (signal.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal.reason as Error);
    };
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
