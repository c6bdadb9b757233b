/**
 * The baseline's fleet in a process of its own (bench/campaign-fleet.ts): a
 * bare Mosquitto with its N simulated devices, its publisher and its
 * collector, driven by the bench over the IPC channel (fleet-mosquitto.ts,
 * `startMosquittoFleet`). Both fleets stay connected for the whole run so
 * that the bench takes their rounds in alternating pairs; the two fleets'
 * 20,000 client sockets in one process would pass this machine's limit of
 * open files.
 *
 *   node fleet-mosquitto-process.js WORK_DIR DEVICES   (forked by the bench only)
 */
import { startBareMosquitto, type BaselineReply, type BaselineRequest, type BaselineRound } from './fleet-mosquitto.js';
import { publishReports, resetCounts, roundStart, secondsUntilNotified, settleBeforeRound, waitUntil, type Storm } from './fleet-sim.js';

const [work, devices] = process.argv.slice(2);
if (work === undefined || devices === undefined || process.send === undefined) throw new Error('forked by the fleet bench only: WORK_DIR DEVICES');
const n = Number(devices);
const send = (message: BaselineReply): void => {
  process.send?.(message);
};

try {
  const broker = await startBareMosquitto(work, n);

  const answer = async (request: BaselineRequest): Promise<number | BaselineRound | Storm | null> => {
    switch (request.op) {
      case 'rss':
        return broker.rss();
      case 'ingest': {
        const started = performance.now();
        const relayed = broker.relayed();
        await publishReports(broker.devices, request.round);
        await waitUntil(() => broker.relayed() >= relayed + n, 300_000, 'reports relayed');
        return n / ((performance.now() - started) / 1000);
      }
      case 'notify': {
        resetCounts(broker.devices);
        await settleBeforeRound();
        const cpuBefore = await broker.cpuSeconds();
        const start = roundStart();
        const [notified] = await Promise.all([secondsUntilNotified(broker.devices, start), broker.publishDesired()]);
        return { ...notified, cpuSeconds: (await broker.cpuSeconds()) - cpuBefore };
      }
      case 'storm':
        return broker.reconnectStorm();
      case 'stop':
        await broker.stop();
        return null;
    }
  };

  process.on('message', (request: BaselineRequest) => {
    answer(request).then(
      (value) => {
        send({ id: request.id, value });
        if (request.op === 'stop') process.disconnect();
      },
      (error: unknown) => {
        send({ id: request.id, error: error instanceof Error ? error.message : String(error) });
      },
    );
  });
  send({ ready: true });
} catch (error) {
  send({ failed: error instanceof Error ? error.message : String(error) });
  process.disconnect();
}
