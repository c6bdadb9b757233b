/** agent/: the device agent. Other components import it through this file only. */
// The content side (store, registry client, fetch, unpack): one list, agent/content-api.ts.
export * from './content-api.js';
// The daemon (issue #5): the update pipeline, managed and autonomous modes.
export * from './pipeline/index.js';
export * from './daemon/index.js';
