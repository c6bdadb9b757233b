/**
 * Step "stage": the unpacked image becomes a deployment (agent/deploy). On a
 * device that was never provisioned, the first image becomes the booted and
 * factory deployment at once (nothing to roll back to, so no probation).
 */
import type { AgentState } from '../../protocol/index.js';
import type { ProgressEvent } from '../fetch/progress.js';
import { contentStageSource } from './content-source.js';
import { layoutStageSource } from './layout-source.js';
import type { PipelineContext } from './context.js';
import type { VerifiedImage } from './verify-step.js';

export type StageResult = { readonly kind: 'provisioned' | 'staged' | 'already-staged'; readonly state: AgentState };

export async function stageStep(ctx: PipelineContext, image: VerifiedImage): Promise<StageResult> {
  const state = await ctx.deployer.status();
  if (state.staged?.manifestDigest === image.manifest.digest) return { kind: 'already-staged', state };
  const options = {
    ...image,
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    progress: (detail: ProgressEvent) => {
      ctx.emit({ event: 'content', detail });
    },
  };
  // bootc unpacks the image itself: its deployments hold the OCI layout (agent/deploy/bootc-backend.ts).
  const source = ctx.deployer.backend.name === 'bootc' ? layoutStageSource(ctx.store, options) : contentStageSource(ctx.store, options);
  if (state.booted === undefined) return { kind: 'provisioned', state: await ctx.deployer.provision(source) };
  return { kind: 'staged', state: await ctx.deployer.stage(source) };
}
