/**
 * How a long-running process (the daemon) uses the data directory's lock (data-lock.ts): per operation,
 * not for its whole life, so that a technician can act while it idles. An operation that waits for a
 * long time (a maintenance window) lets the lock go for the wait through its lease and takes it back after.
 */
import { acquireDataLock, type DataLock } from './data-lock.js';

/** What an operation holding the lock can do with it. */
export interface Lease {
  /** Runs `fn` (a wait) without the lock, then takes the lock back. */
  whileReleased<T>(fn: () => Promise<T>): Promise<T>;
}

export interface LockGateOptions {
  readonly dataDir: string;
  readonly owner: string;
  /** How long an operation waits for a technician's command to finish (default 3_600_000 ms), then fails BOOTFLEET_AGENT_BUSY. */
  readonly waitMs?: number;
  readonly signal?: AbortSignal;
}

export const DEFAULT_DAEMON_LOCK_WAIT_MS = 3_600_000;

export class LockGate {
  constructor(private readonly options: LockGateOptions) {}

  /** Runs one operation holding the lock. Operations of one process must not nest (the lock is not re-entrant). */
  async run<T>(fn: (lease: Lease) => Promise<T>): Promise<T> {
    // Held in an object: the lease changes it from inside closures.
    const held: { lock?: DataLock } = { lock: await this.acquire() };
    const lease: Lease = {
      whileReleased: async (wait) => {
        await held.lock?.release();
        delete held.lock;
        try {
          return await wait();
        } finally {
          held.lock = await this.acquire();
        }
      },
    };
    try {
      return await fn(lease);
    } finally {
      await held.lock?.release();
    }
  }

  private acquire(): Promise<DataLock> {
    return acquireDataLock(this.options.dataDir, {
      owner: this.options.owner,
      waitMs: this.options.waitMs ?? DEFAULT_DAEMON_LOCK_WAIT_MS,
      ...(this.options.signal === undefined ? {} : { signal: this.options.signal }),
    });
  }
}
