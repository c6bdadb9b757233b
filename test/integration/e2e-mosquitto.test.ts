/**
 * End to end with real processes and a real Mosquitto (external-broker mode,
 * dynamic security provisions each enrolled device): the same stories as
 * e2e-embedded.test.ts, plus the broker killed (SIGKILL) and started again
 * mid-campaign. Mosquitto runs without persistence here, so its restart also
 * loses every retained message and session: the worst case.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startMosquitto, type RunningMosquitto } from '../helpers/mosquitto.js';
import { useE2eFleet } from '../helpers/e2e-fleet.js';
import { agentKilledDuringActivation, brokerRestartedMidCampaign, linkCutDuringDownload, serverKilledMidCampaign } from '../helpers/e2e-story.js';
import { requireTool } from '../helpers/tools.js';

const mosquitto = requireTool('mosquitto');

describe.skipIf(mosquitto.skip)('end to end, external Mosquitto', () => {
  let broker: RunningMosquitto | undefined;
  // Registered before the fleet's hooks: started before the fleet, stopped after it.
  beforeAll(async () => {
    broker = await startMosquitto(mosquitto.path ?? 'mosquitto');
  });
  afterAll(async () => {
    await broker?.stop();
  });
  const f = useE2eFleet(() => {
    if (broker === undefined) throw new Error('Mosquitto did not start');
    const config = { mode: 'external', url: broker.url, username: broker.serverUser, passwordFile: broker.serverPasswordFile, provisioning: 'mosquitto-dynsec' };
    return { devices: ['dev-a', 'dev-b'], versions: ['1.0', '2.0', '3.0', '4.0'], external: { config, url: broker.url } };
  });

  it('provisions every device although the link is cut every 512 KiB: downloads resume', async () => {
    await linkCutDuringDownload(f(), 'provision-v1', '1.0');
  }, 100_000);

  it('completes a campaign whose server is killed and restarted mid-campaign', async () => {
    await serverKilledMidCampaign(f(), 'upgrade-v2', '2.0');
  }, 100_000);

  it('completes a campaign whose broker is killed and restarted mid-campaign: agents reconnect', async () => {
    await brokerRestartedMidCampaign(f(), 'upgrade-v3', '3.0', async () => {
      await broker?.restart();
    });
  }, 100_000);

  it('leaves agents killed during activation on the old or the new deployment, counted accordingly', async () => {
    await agentKilledDuringActivation(f(), 'upgrade-v4', '3.0', '4.0');
  }, 100_000);
});
