/**
 * Bounded garbage while a layer streams. Every chunk of a large blob is a
 * fresh Buffer (64 KiB socket or file reads, 128 KiB zlib output) that dies
 * at once, but V8 frees a Buffer's memory only when its young generation
 * fills up (a few hundred bytes of JavaScript objects per chunk: with a 1 MiB
 * semi-space, one young collection per few thousand chunks, hundreds of MiB)
 * or when external memory has grown by its 64 MiB soft limit. So a download
 * or an unpack carried 35 to 70 MiB of dead chunks at its peak
 * (docs/agent-content.md, "Memory").
 *
 * When node runs with `--expose-gc` (the agent's systemd units say why), a
 * young-generation collection every `everyBytes` frees them; it takes well
 * under a millisecond with a 1 MiB semi-space. Without the flag this does
 * nothing and V8's own schedule applies.
 */
const DEFAULT_EVERY_BYTES = 4 * 1024 * 1024;

/** Returns a counter: call it with each chunk's length. */
export function streamGarbageCollector(everyBytes: number = DEFAULT_EVERY_BYTES): (bytes: number) => void {
  const collect = globalThis.gc;
  if (collect === undefined) return () => undefined;
  let since = 0;
  return (bytes) => {
    since += bytes;
    if (since < everyBytes) return;
    since = 0;
    collect({ type: 'minor' });
  };
}
