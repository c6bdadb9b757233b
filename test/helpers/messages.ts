/** Well-formed sample messages for tests; fields chosen to look like a real campaign. */
import type { DesiredState } from '../../protocol/index.js';

export const SAMPLE_DIGESTS = {
  manifest: `sha256:${'a'.repeat(64)}`,
  layer1: `sha256:${'b'.repeat(64)}`,
  layer2: `sha256:${'c'.repeat(64)}`,
};

export function sampleDesiredState(overrides: Partial<DesiredState> = {}): DesiredState {
  return {
    device: 'dev-1',
    seq: 7,
    issuedAt: 1_795_000_000,
    expiresAt: 1_795_003_600,
    campaign: 'spring-rollout',
    image: {
      registry: 'registry.example.net:5000',
      repository: 'fleet/os',
      digest: SAMPLE_DIGESTS.manifest,
      size: 1024,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      version: '2026.11.2',
    },
    layers: [
      { digest: SAMPLE_DIGESTS.layer1, size: 31_457_280, mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', missing: false },
      { digest: SAMPLE_DIGESTS.layer2, size: 1_048_576, mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd', missing: true },
    ],
    policy: { downloadOnly: false, allowDowngrade: false, healthTimeoutSeconds: 300 },
    ...overrides,
  };
}
