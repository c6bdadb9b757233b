/** Limits and switches of the layer applier; every default says its unit. */
export interface UnpackOptions {
  /** Most path components an entry may have (deep trees exhaust the kernel and our stack). */
  readonly maxDepth: number;
  /** Longest entry path in bytes (Linux PATH_MAX is 4096). */
  readonly maxPathBytes: number;
  /** Most uncompressed bytes one layer may have: a decompression bomb stops here. */
  readonly maxUncompressedBytes: number;
  /** Most entries one layer may have. */
  readonly maxEntries: number;
  /** Create character/block devices and FIFOs (needs root); refused otherwise. */
  readonly allowDevices: boolean;
  /** Apply uid/gid from the layer; only meaningful as root, where it is the default. */
  readonly preserveOwnership: boolean;
}

export const DEFAULT_UNPACK_OPTIONS: UnpackOptions = {
  maxDepth: 128,
  maxPathBytes: 4096,
  maxUncompressedBytes: 32 * 1024 ** 3,
  maxEntries: 2_000_000,
  allowDevices: false,
  preserveOwnership: process.getuid?.() === 0,
};

export function unpackOptions(partial: Partial<UnpackOptions> = {}): UnpackOptions {
  return { ...DEFAULT_UNPACK_OPTIONS, ...partial };
}
