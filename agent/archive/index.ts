/** agent/archive: images from an oci-archive or OCI layout directory, offline (`bootfleet agent apply --archive`). */
export * from './extract-archive.js';
export * from './import-archive.js';
export * from './layout-dir.js';
export * from './layout-paths.js';
export * from './select-image.js';
