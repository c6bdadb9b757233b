/**
 * Command groups whose commands arrive with later work: `image` (#3),
 * `campaign` (#6); `agent` has its own file, cli/commands/agent.ts. Each
 * exists now so that `--help` shows the whole shape of the CLI and scripts
 * can rely on the group names.
 */
import { Command } from 'commander';

function placeholderGroup(name: string, description: string, issue: number): Command {
  const group = new Command(name).description(description);
  group.addHelpText('after', `\nIts commands are tracked in issue #${issue}.`);
  // Without subcommands commander would do nothing; show the help and exit with the usage code.
  group.action(() => group.help({ error: true }));
  return group;
}

export function imageCommand(): Command {
  return placeholderGroup('image', 'push, sign, verify and garbage-collect images in the embedded registry', 3);
}

export function campaignCommand(): Command {
  return placeholderGroup('campaign', 'create, start, pause, resume and watch update campaigns', 6);
}
