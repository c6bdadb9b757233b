/** A campaign record as the server stores it, for unit tests of the campaign engine; the image is the sample one (messages.ts). */
import type { Campaign } from '../../server/campaigns/index.js';
import { SAMPLE_DIGESTS } from './messages.js';

/** The clock of the sample campaign, in Unix seconds. */
export const SAMPLE_NOW = 1_795_000_000;

/** A draft campaign of one wave for d1, d2 and d3, created at SAMPLE_NOW; thresholds of 1, no revert, desired states valid 1 h. */
export function sampleCampaign(overrides: Partial<Campaign> = {}): Campaign {
  return {
    id: 'c1',
    state: 'draft',
    createdAt: SAMPLE_NOW,
    createdBy: 'token:operator',
    image: 'registry.example.net/fleet/os:1',
    target: { registry: 'registry.example.net', repository: 'fleet/os', digest: SAMPLE_DIGESTS.manifest, size: 500, mediaType: 'application/vnd.oci.image.manifest.v1+json', version: '1.0' },
    layers: [{ digest: SAMPLE_DIGESTS.layer1, size: 1000, mediaType: 'application/vnd.oci.image.layer.v1.tar' }],
    selector: { ids: ['d1', 'd2', 'd3'] },
    settings: {
      waves: [100],
      successThreshold: 1,
      failureThreshold: 1,
      revertOnFailure: false,
      downloadOnly: false,
      allowDowngrade: false,
      healthTimeoutSeconds: 60,
      deviceTimeoutSeconds: 600,
      desiredStateTtlSeconds: 3600,
    },
    currentWave: 0,
    failuresAcknowledged: 0,
    deviceCount: 0,
    ...overrides,
  };
}
