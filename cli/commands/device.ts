/**
 * `bootfleet device`: the device registry through the server API, and the
 * facts about one device's side of the protocol (`topics`, offline).
 */
import { Command, Option } from 'commander';
import { BootfleetError, deviceTopic, TOPIC_KINDS, TOPIC_SPECS } from '../../protocol/index.js';
import { apiTarget, callApi, withApiOptions } from '../api-client.js';
import type { CliIo } from '../io.js';

interface ApiOpts {
  server?: string;
  token?: string;
}

/** Pages fetched by `list --all` at most (500 devices each): a bound, not a fleet limit. */
const MAX_PAGES = 10_000;

function collectValues(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function deviceCommand(io: CliIo): Command {
  const device = new Command('device').description('list, inspect, label and revoke devices; print their protocol topics');
  device
    .command('topics')
    .description('print the MQTT topics of a device with their QoS, retain flag and direction, as JSON lines')
    .argument('<device-id>', 'device id')
    .action((id: string) => {
      for (const kind of TOPIC_KINDS) {
        io.out(`${JSON.stringify({ kind, topic: deviceTopic(id, kind), ...TOPIC_SPECS[kind] })}\n`);
      }
    });
  withApiOptions(
    device
      .command('list')
      .description('list devices as JSON lines, in id order')
      .option('-l, --label <key=value>', 'only devices with this label (repeat: all must match)', collectValues, [])
      .option('-g, --group <name>', 'only devices in this group')
      .addOption(new Option('--online', 'only connected devices').conflicts('offline'))
      .option('--offline', 'only disconnected devices')
      .option('--limit <n>', 'devices per page (1-500)', (v) => Number.parseInt(v, 10), 100)
      .option('--all', 'follow the cursor through every page'),
  ).action(async (opts: ApiOpts & { label: string[]; group?: string; online?: boolean; offline?: boolean; limit: number; all?: boolean }) => {
    const target = apiTarget(opts);
    const query = new URLSearchParams();
    for (const label of opts.label) query.append('label', label);
    if (opts.group !== undefined) query.set('group', opts.group);
    if (opts.online === true) query.set('online', 'true');
    if (opts.offline === true) query.set('online', 'false');
    query.set('limit', String(opts.limit));
    for (let page = 0; page < MAX_PAGES; page += 1) {
      const answer = (await callApi(target, 'GET', `/api/v1/devices?${query.toString()}`)) as { devices: unknown[]; nextCursor?: string };
      for (const item of answer.devices) io.out(`${JSON.stringify(item)}\n`);
      if (opts.all !== true || answer.nextCursor === undefined) {
        if (answer.nextCursor !== undefined) io.err(`more devices follow: --all, or the API with cursor=${answer.nextCursor}\n`);
        return;
      }
      query.set('cursor', answer.nextCursor);
    }
  });
  withApiOptions(
    device
      .command('show')
      .description('print one device (slots, last report, inventory) and its recent events as JSON')
      .argument('<device-id>', 'device id')
      .option('--events <n>', 'how many recent events (0-500)', (v) => Number.parseInt(v, 10), 20),
  ).action(async (id: string, opts: ApiOpts & { events: number }) => {
    const answer = await callApi(apiTarget(opts), 'GET', `/api/v1/devices/${encodeURIComponent(id)}?events=${opts.events}`);
    io.out(`${JSON.stringify(answer, null, 2)}\n`);
  });
  withApiOptions(
    device
      .command('label')
      .description('set labels (key=value), remove them (key-), and add or remove groups; prints the device')
      .argument('<device-id>', 'device id')
      .argument('[changes...]', 'key=value to set, key- to remove')
      .option('--add-group <name>', 'add to a group (repeatable)', collectValues, [])
      .option('--remove-group <name>', 'remove from a group (repeatable)', collectValues, []),
  ).action(async (id: string, changes: string[], opts: ApiOpts & { addGroup: string[]; removeGroup: string[] }) => {
    const body = { labels: parseLabelChanges(changes), addGroups: opts.addGroup, removeGroups: opts.removeGroup };
    const answer = (await callApi(apiTarget(opts), 'PATCH', `/api/v1/devices/${encodeURIComponent(id)}`, body)) as { device: unknown };
    io.out(`${JSON.stringify(answer.device)}\n`);
  });
  withApiOptions(
    device
      .command('revoke')
      .description('revoke a device (admin token): delete its credentials and broker account, refuse its client certificate from now on, disconnect it')
      .argument('<device-id>', 'device id'),
  ).action(async (id: string, opts: ApiOpts) => {
    await callApi(apiTarget(opts), 'DELETE', `/api/v1/devices/${encodeURIComponent(id)}/credentials`);
    io.out(`${JSON.stringify({ device: id, revoked: true })}
`);
  });
  return device;
}

/** `key=value` sets, `key-` removes (kubectl's convention). */
function parseLabelChanges(changes: readonly string[]): Record<string, string | null> {
  const labels: Record<string, string | null> = {};
  for (const change of changes) {
    const at = change.indexOf('=');
    if (at > 0) labels[change.slice(0, at)] = change.slice(at + 1);
    else if (change.endsWith('-') && change.length > 1) labels[change.slice(0, -1)] = null;
    else throw new BootfleetError('BOOTFLEET_CLI_USAGE', `label change ${JSON.stringify(change)} is neither key=value nor key-`);
  }
  return labels;
}
