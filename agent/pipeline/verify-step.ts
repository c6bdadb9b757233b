/**
 * Step "verify": what the image is, and whether this device may run it: its
 * version (signed in managed mode, else the config's version label) against
 * the downgrade rule (protocol/version.ts, docs/protocol.md 6.1); the
 * builder's signature when builder keys are configured. Blob digests
 * were checked as they arrived (agent/fetch); the config is read again here
 * from the store, which re-hashes it.
 */
import {
  checkDowngrade,
  MAX_CONFIG_BYTES,
  MAX_MANIFEST_BYTES,
  parseImageConfig,
  parseImageManifest,
  VERSION_SCHEMA_PATTERN,
  type Descriptor,
} from '../../protocol/index.js';
import type { PipelineContext, UpdateTarget } from './context.js';
import { verifyBuilderSignature } from './signature-step.js';

const VERSION_LABEL = 'org.opencontainers.image.version';
const VERSION_PATTERN = new RegExp(VERSION_SCHEMA_PATTERN);

export interface VerifiedImage {
  readonly manifest: Descriptor;
  readonly manifestBytes: Buffer;
  readonly version: string;
}

export async function verifyStep(ctx: PipelineContext, target: UpdateTarget, manifest: Descriptor): Promise<VerifiedImage> {
  const manifestBytes = await ctx.store.readBytes(manifest, MAX_MANIFEST_BYTES);
  const config = parseImageConfig(await ctx.store.readBytes(parseImageManifest(manifestBytes).config, MAX_CONFIG_BYTES));
  const label = config.config?.Labels?.[VERSION_LABEL];
  const version = target.version ?? (label !== undefined && VERSION_PATTERN.test(label) ? label : '0');
  const state = await ctx.deployer.status();
  checkDowngrade(state.booted?.version, version, target.policy.allowDowngrade);
  if (ctx.builderKeys !== undefined) await verifyBuilderSignature(ctx, target, ctx.builderKeys);
  return { manifest, manifestBytes, version };
}
