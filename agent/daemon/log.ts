/**
 * The daemon's output: one JSON object per line on stdout (as bootc's
 * JSON-lines progress), for journald and for whoever supervises the agent.
 * Every line has `ts` (ISO time) and `event`.
 */
export type DaemonLog = (event: string, fields?: Record<string, unknown>) => void;

export function jsonLinesLog(write: (line: string) => void): DaemonLog {
  return (event, fields = {}) => {
    write(`${JSON.stringify({ ts: new Date().toISOString(), event, ...fields })}\n`);
  };
}
