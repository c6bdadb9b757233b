/** protocol/: the single definition of what crosses a wire or a disk. */
export * from './agent-state/index.js';
export * from './canonical-json.js';
export * from './digest.js';
export * from './envelope/index.js';
export * from './errors.js';
export * from './ids.js';
export * from './messages/index.js';
export * from './oci/media-types.js';
export * from './oci/parse.js';
export * from './oci/schemas.js';
export * from './topics.js';
export * from './validate.js';
export * from './version.js';
