/**
 * Progress events of the agent's content pipeline, one JSON object per line
 * (as bootc's `--progress-fd` JSON lines): bytes done and total per blob and
 * overall. The daemon forwards them in its reports; the CLI prints them, or
 * draws a bar when stdout is a terminal (progress-bar.ts). Documented in
 * docs/agent-content.md.
 */
export type ProgressEvent =
  | { readonly event: 'pull-start'; readonly ref: string; readonly manifest: string; readonly blobs: number; readonly totalBytes: number; readonly missingBytes: number }
  | {
      readonly event: 'blob-progress';
      readonly digest: string;
      readonly done: number;
      readonly total: number;
      readonly overallDone: number;
      readonly overallTotal: number;
    }
  | { readonly event: 'blob-resume'; readonly digest: string; readonly offset: number }
  | { readonly event: 'blob-retry'; readonly digest: string; readonly attempt: number; readonly reason: string; readonly delayMs: number }
  | { readonly event: 'blob-done'; readonly digest: string; readonly size: number; readonly wireBytes: number }
  | { readonly event: 'unpack-layer'; readonly layer: string; readonly index: number; readonly count: number }
  | { readonly event: 'pull-done'; readonly manifest: string; readonly fetchedBytes: number; readonly wireBytes: number };

export type ProgressSink = (event: ProgressEvent) => void;

export const ignoreProgress: ProgressSink = () => undefined;

/** A sink writing one JSON line per event. */
export function jsonLinesProgress(write: (line: string) => void): ProgressSink {
  return (event) => {
    write(`${JSON.stringify(event)}\n`);
  };
}
