/**
 * A bound on V8's old space while a layer is applied. Each entry makes short
 * lived objects (node-tar's header and entry, paths, promises); those still
 * alive at two young collections are promoted, about 14 MiB of them over the
 * bench's 1 GiB layer of 76 800 files, where they stay until V8 runs a full
 * collection. On its own schedule V8 let the old space grow from 19 to 27 MiB
 * first, and pages once committed stayed in the RSS (docs/agent-content.md,
 * "Memory"). So a full collection is run when a layer starts (the start-up's
 * own promoted garbage, 2 to 3 MiB, would otherwise be the floor) and again
 * whenever the used heap has grown by `maxGrowthBytes` since the last one:
 * about 15 to 25 ms each with a 20 MiB heap, one to two dozen per GiB. With 1 MiB
 * the unpack peaked about 2 MiB lower than with 2 MiB and no
 * collection at the start, in paired probe runs.
 *
 * Only with `--expose-gc` (the agent's systemd units say why); without it V8's
 * own schedule applies. `gc()` without options: on Node 20 (V8 11.3)
 * `gc({ type: 'major' })` left the old space's garbage in place.
 */
import { getHeapStatistics } from 'node:v8';

/** Old-space growth allowed between full collections (1 MiB). */
const DEFAULT_MAX_GROWTH_BYTES = 1024 * 1024;
/** How often the heap is looked at, in bytes of the tar stream (4 MiB, as stream-garbage.ts). */
const CHECK_EVERY_BYTES = 4 * 1024 * 1024;

/** Returns a counter: call it with each chunk's length. */
export function heapBudget(maxGrowthBytes: number = DEFAULT_MAX_GROWTH_BYTES): (bytes: number) => void {
  const collect = globalThis.gc;
  if (collect === undefined) return () => undefined;
  collect();
  let floor = getHeapStatistics().used_heap_size;
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < CHECK_EVERY_BYTES) return;
    since = 0;
    if (getHeapStatistics().used_heap_size <= floor + maxGrowthBytes) return;
    collect();
    floor = getHeapStatistics().used_heap_size;
  };
}
