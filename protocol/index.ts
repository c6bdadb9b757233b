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
export * from './schemas.js';
// --- embedded OCI registry and image signing (issue #3)
export * from './oci/image-signature.js';
export * from './oci/image-signature-verify.js';
export * from './oci/reference.js';
export * from './oci/registry-errors.js';
