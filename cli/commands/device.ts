/** `bootfleet device`: facts about one device's side of the protocol. */
import { Command } from 'commander';
import { deviceTopic, TOPIC_KINDS, TOPIC_SPECS } from '../../protocol/index.js';
import type { CliIo } from '../io.js';

export function deviceCommand(io: CliIo): Command {
  const device = new Command('device').description('inspect devices and their protocol topics');
  device
    .command('topics')
    .description('print the MQTT topics of a device with their QoS, retain flag and direction, as JSON lines')
    .argument('<device-id>', 'device id')
    .action((id: string) => {
      for (const kind of TOPIC_KINDS) {
        io.out(`${JSON.stringify({ kind, topic: deviceTopic(id, kind), ...TOPIC_SPECS[kind] })}\n`);
      }
    });
  return device;
}
