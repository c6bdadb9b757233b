/** agent/daemon: `bootfleet agent run` (managed and autonomous modes) and `agent enroll`. */
export * from './config.js';
export * from './credentials.js';
export * from './log.js';
export * from './report-builder.js';
export * from './report-seq.js';
export * from './reporter.js';
export * from './run.js';
export * from './run-managed.js';
export * from './daemon.js';
