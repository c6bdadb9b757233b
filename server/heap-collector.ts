/**
 * One full garbage collection after a campaign's creation has signed ahead
 * for many devices (docs/control-plane.md, "Tenth round"). Signing ahead is
 * the largest allocation the server makes (about 24 KB a device: the signed
 * payloads' canonical JSON, the signatures, the stored records), and it
 * leaves V8's old generation near the point where V8 starts its next major
 * collection on its own. That collection's concurrent marking then ran in
 * whichever phase came next, often the campaign's start: up to 0.7 CPU-s of
 * V8's worker threads in the very second the devices are notified, on the
 * cores the broker's writes and the devices need. Collected once the
 * creation is over, the start begins with a heap V8 has just measured.
 *
 * Only with `--expose-gc` (deploy/systemd/bootfleet-server.service says
 * why); without it this does nothing and V8's own schedule applies. A full
 * collection stops the server's main thread: 0.2 to 0.4 s with 10,000
 * devices connected on the bench's machine (MQTT frames wait in the
 * sockets meanwhile; nothing is lost), once per creation of a campaign of at
 * least `minDevices` devices, an operator's action.
 */
import type { Logger } from 'pino';

/** Devices signed ahead from which a creation asks for a collection: below it the garbage is small. */
export const COLLECT_AFTER_SIGNED = 1_000;
/** Delay after the creation, so that its HTTP answer goes out before the pause. */
const DEFAULT_DELAY_MS = 50;

export interface HeapCollectorOptions {
  readonly logger: Logger;
  /** The collection: `globalThis.gc` (present only with `--expose-gc`) unless given. */
  readonly gc?: () => unknown;
  readonly minDevices?: number;
  readonly delayMs?: number;
}

export class HeapCollector {
  private readonly gc: (() => unknown) | undefined;
  private readonly minDevices: number;
  private readonly delayMs: number;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: HeapCollectorOptions) {
    this.gc = options.gc ?? globalThis.gc;
    this.minDevices = options.minDevices ?? COLLECT_AFTER_SIGNED;
    this.delayMs = options.delayMs ?? DEFAULT_DELAY_MS;
  }

  /** Whether collections run at all (`--expose-gc` given, or a collection injected). */
  get enabled(): boolean {
    return this.gc !== undefined;
  }

  /**
   * A creation signed ahead for `devices` devices: one collection shortly
   * after, if they are at least `minDevices`. Requests made while one is
   * pending share it.
   */
  afterSigningAhead(devices: number): void {
    const gc = this.gc;
    if (gc === undefined || this.closed || devices < this.minDevices || this.timer !== undefined) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      const started = performance.now();
      gc();
      this.options.logger.info({ devices, pauseMs: Math.round(performance.now() - started) }, 'full garbage collection after signing ahead');
    }, this.delayMs);
    this.timer.unref();
  }

  /** Cancels a pending collection; none is started afterwards. */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
