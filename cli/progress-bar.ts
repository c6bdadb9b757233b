/** A one-line progress bar on a terminal, redrawn in place from agent progress events. */
import type { ProgressEvent } from '../agent/index.js';

const WIDTH = 30;

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}

export function progressBar(write: (text: string) => void): (event: ProgressEvent) => void {
  return (event) => {
    switch (event.event) {
      case 'pull-start':
        write(`pulling ${event.ref}: ${event.blobs} blobs missing, ${mib(event.missingBytes)} of ${mib(event.totalBytes)} MiB\n`);
        return;
      case 'blob-progress': {
        const ratio = event.overallTotal === 0 ? 1 : event.overallDone / event.overallTotal;
        const filled = Math.round(ratio * WIDTH);
        write(`\r[${'#'.repeat(filled)}${'.'.repeat(WIDTH - filled)}] ${(ratio * 100).toFixed(0).padStart(3)}% ${mib(event.overallDone)}/${mib(event.overallTotal)} MiB ${event.digest.slice(7, 19)}`);
        return;
      }
      case 'blob-retry':
        write(`\nretry ${event.attempt} for ${event.digest.slice(7, 19)} in ${event.delayMs} ms: ${event.reason}\n`);
        return;
      case 'blob-resume':
        write(`resuming ${event.digest.slice(7, 19)} at ${mib(event.offset)} MiB\n`);
        return;
      case 'pull-done':
        write(`\ndone: ${event.manifest} (${mib(event.wireBytes)} MiB over the network)\n`);
        return;
      default:
        return;
    }
  };
}
