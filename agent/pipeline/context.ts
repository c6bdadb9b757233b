/**
 * What every step of the update pipeline works with: the content store, the
 * deployer, how to reach the registry, the health checks, and where events go.
 */
import type { Descriptor, LayerEntry, TrustedKeys, UpdatePolicy } from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import type { Deployer } from '../deploy/deployer.js';
import type { Lease } from '../deploy/lock-gate.js';
import type { PullOptions } from '../fetch/pull-image.js';
import type { HealthCheck } from '../health/checks.js';
import type { PipelineSink } from './events.js';

export interface PipelineContext {
  readonly store: ContentStore;
  readonly deployer: Deployer;
  /** Registry credentials, plain HTTP, bandwidth cap, retry policy. */
  readonly pull: Omit<PullOptions, 'progress'>;
  readonly checks: readonly HealthCheck[];
  readonly emit: PipelineSink;
  readonly now: () => number;
  /** Pause between two rounds of failing health checks (default 2_000 ms). */
  readonly healthRetryIntervalMs?: number;
  /** Builder keys: when set, every image must carry a signature by one of them (signature-step.ts). */
  readonly builderKeys?: TrustedKeys;
  /** Recompute the booted tree before committing a probation; a change rolls back (integrity `refuse-commit` and `rollback`). */
  readonly integrityBeforeCommit?: boolean;
  /**
   * Stops the run at its next safe point (the daemon stopping, a newer desired state): a wait, the download
   * (partial blobs stay for a resume), the unpack (its tree removed), or before the activation; never later.
   */
  readonly signal?: AbortSignal;
  /** The data directory's lock held for this run (the daemon's): let go while waiting for a window or a delay. */
  readonly lease?: Lease;
}

/** One image to run, by digest; managed mode adds the signed layer list and version. */
export interface UpdateTarget {
  readonly registry: string;
  readonly repository: string;
  readonly digest: string;
  /** Signed manifest length (docs/protocol.md 6.1); the manifest may not be longer. */
  readonly size?: number;
  /** Signed version; when absent, the image config's `org.opencontainers.image.version` label, else "0". */
  readonly version?: string;
  /** Signed layer list: the manifest must list exactly these (docs/protocol.md 6.1). */
  readonly layers?: readonly LayerEntry[];
  readonly policy: UpdatePolicy;
  /** The builder's signature bundle carried by the desired state, if any. */
  readonly imageSignature?: object;
  /**
   * Content already in the store, verified (an archive, agent/archive): the
   * fetch step is skipped and the registry is never contacted; the signature
   * step tries only these bundles.
   */
  readonly prepared?: { readonly manifest: Descriptor; readonly signatures: readonly Uint8Array[] };
}

export function targetReference(target: UpdateTarget): string {
  return `${target.registry}/${target.repository}@${target.digest}`;
}
