/**
 * `bootfleet agent apply <ref>` and `bootfleet agent apply --archive <path>`:
 * a technician installs an image by hand, through the daemon's own pipeline
 * (verify, stage, activate, probation, commit or roll back;
 * docs/agent-deployment.md, "Applying an image by hand"). From a registry,
 * only missing layers are fetched; from an oci-archive or OCI layout
 * directory (a USB stick) nothing touches the network. Audited like every
 * local action; an apply is an operator command, so it also clears the
 * attempt counter of a target the daemon gave up on.
 */
import type { Command } from 'commander';
import type { CliIo } from '../io.js';
import type { ApplyFlags } from './agent-apply-run.js';
import { parsePlatform } from './agent-content.js';
import { withCommonOptions } from './agent-local.js';
import { withWaitOption } from './agent-lock.js';

export function addApplyAgentCommand(agent: Command, io: CliIo): void {
  withWaitOption(withCommonOptions(
    agent
      .command('apply')
      .description('install an image by hand from a registry or, offline, from an oci-archive or OCI layout directory: verify, stage, activate, probation; audited')
      .argument('[ref]', 'image reference host[:port]/name[:tag][@sha256:...] (not with --archive)'),
  ))
    .option('--archive <path>', 'an oci-archive file (skopeo copy ... oci-archive:x.tar) or an OCI layout directory; no network is used')
    .option('--name <ref-name>', 'with --archive: the image whose org.opencontainers.image.ref.name is this, when the archive holds several')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an image index (default: this machine)', parsePlatform)
    .option('--download-only', 'stage the image and stop; a later `apply` of the same image activates it')
    .option('--allow-downgrade', 'accept an image whose version is below the booted one')
    .option('--username <user>', 'registry user (or BOOTFLEET_REGISTRY_USERNAME); password from BOOTFLEET_REGISTRY_PASSWORD')
    .option('--plain-http', 'use http:// even for a non-loopback registry')
    .option('--json', 'print JSON lines (phases, then the status)')
    .action(async (ref: string | undefined, flags: ApplyFlags) => {
      const { runApply } = await import('./agent-apply-run.js');
      await runApply(ref, flags, io);
    });
}
