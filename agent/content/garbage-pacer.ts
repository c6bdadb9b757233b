/**
 * Paced garbage collection for long streams of work: a download, a layer's
 * unpack, a tree digest. One module for what were two pacers (a young
 * collection per 4 MiB streamed; a full collection bounding the old space).
 *
 * Young generation. Every chunk of a large blob is a fresh Buffer (64 KiB
 * socket or file reads, 128 KiB zlib output) that dies at once, but V8 frees
 * a Buffer's memory only when its young generation fills up (a few hundred
 * bytes of JavaScript objects per chunk: with a 1 MiB semi-space, one young
 * collection per few thousand chunks, hundreds of MiB) or when external
 * memory has grown by its 64 MiB soft limit. A download or an unpack carried
 * 35 to 70 MiB of dead chunks at its peak. A young collection every
 * `everyBytes` (4 MiB) frees them, in well under a millisecond.
 *
 * Old space (with `maxOldGrowthBytes`). Each tar entry or tree entry makes
 * short-lived objects; those alive at two young collections are promoted,
 * about 14 MiB over the bench's 1 GiB layer of 76 800 files, and stay until
 * V8 runs a full collection: on its own schedule V8 let the old space grow
 * by 8 MiB first, and pages once committed stayed in the RSS. So a full
 * collection runs when the work starts (the start-up's own promoted garbage,
 * 2 to 3 MiB, would otherwise be the floor) and whenever the used heap has
 * grown by `maxOldGrowthBytes` since the last one: about 15 to 25 ms each
 * with a 20 MiB heap. With 1 MiB an unpack peaked about 2 MiB lower than
 * with 2 MiB (docs/agent-content.md, "Memory").
 *
 * Only with `--expose-gc` (the agent's systemd units say why); without it
 * this does nothing and V8's own schedule applies. A full collection is a
 * plain `gc()`: on Node 20 (V8 11.3) `gc({ type: 'major' })` left the old
 * space's garbage in place.
 */
import { getHeapStatistics } from 'node:v8';

const DEFAULT_EVERY_BYTES = 4 * 1024 * 1024;

export interface GarbagePacerOptions {
  /** Bytes of work between two looks (4 MiB). */
  readonly everyBytes?: number;
  /** When set, also a full collection at the start and whenever the used heap has grown by this much since the last one. */
  readonly maxOldGrowthBytes?: number;
}

export interface GarbagePacer {
  /** Counts `bytes` of work; every `everyBytes`, a young collection, then the old space looked at. */
  count(bytes: number): void;
  /** The same look now, whatever was counted: for work measured in entries rather than bytes. */
  check(): void;
}

const IDLE: GarbagePacer = { count: () => undefined, check: () => undefined };

export function garbagePacer(options: GarbagePacerOptions = {}): GarbagePacer {
  const collect = globalThis.gc;
  if (collect === undefined) return IDLE;
  const everyBytes = options.everyBytes ?? DEFAULT_EVERY_BYTES;
  const maxGrowth = options.maxOldGrowthBytes;
  const used = (): number => getHeapStatistics().used_heap_size;
  if (maxGrowth !== undefined) collect();
  let floor = used();
  let since = 0;
  const check = (): void => {
    since = 0;
    collect({ type: 'minor' });
    // Looked at right after the young collection, which has just promoted what survived it.
    if (maxGrowth !== undefined && used() > floor + maxGrowth) {
      collect();
      floor = used();
    }
  };
  return {
    count(bytes) {
      since += bytes;
      if (since >= everyBytes) check();
    },
    check,
  };
}
