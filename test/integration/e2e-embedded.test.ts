/**
 * End to end with real processes and the embedded broker: the server from the
 * built CLI, two agents (`bootfleet agent run`, own data directories), the
 * embedded registry behind a fault proxy. One fleet and one image build for
 * the whole file; each test is one campaign and its fault
 * (test/helpers/e2e-story.ts). With the embedded broker, "the broker
 * restarted" is the server restart.
 */
import { describe, it } from 'vitest';
import { useE2eFleet } from '../helpers/e2e-fleet.js';
import { agentKilledDuringActivation, linkCutDuringDownload, serverKilledMidCampaign } from '../helpers/e2e-story.js';

describe('end to end, embedded broker', () => {
  const f = useE2eFleet(() => ({ devices: ['dev-a', 'dev-b'], versions: ['1.0', '2.0', '3.0'] }));

  it('provisions every device although the link is cut every 512 KiB: downloads resume', async () => {
    await linkCutDuringDownload(f(), 'provision-v1', '1.0');
  }, 100_000);

  it('completes a campaign whose server is killed and restarted mid-campaign (the embedded broker with it)', async () => {
    await serverKilledMidCampaign(f(), 'upgrade-v2', '2.0');
  }, 100_000);

  it('leaves agents killed during activation on the old or the new deployment, counted accordingly', async () => {
    await agentKilledDuringActivation(f(), 'upgrade-v3', '2.0', '3.0');
  }, 100_000);
});
