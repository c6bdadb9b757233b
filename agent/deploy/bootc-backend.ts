/**
 * The `bootc` backend: on a bootc host the deployment's `root/` holds an OCI
 * image layout (bootc unpacks it into its own ostree deployment), handed over
 * with `bootc switch --transport oci <dir>`; a rollback is `bootc rollback`;
 * which image is booted or staged comes from `bootc status --format=json`
 * (host-v1: org.containers.bootc/v1 BootcHost). The activation command is
 * then typically `systemctl reboot`.
 */
import { resolve, sep } from 'node:path';
import { Type, type Static } from 'typebox';
import { compileParser, parseJson, type DeploymentRef, type SwitchingAction } from '../../protocol/index.js';
import { expectSuccess, runActivationCommand, type ActivationBackend, type ActivationCommand } from './backend.js';
import { spawnCommand, type CommandRunner } from './command-runner.js';
import { deploymentRoot, deploymentsDir } from './deployments.js';

const BOOTC_TIMEOUT_MS = 10 * 60_000;
const STATUS_MAX_BYTES = 1024 * 1024;

// Only the fields we read are typed; bootc adds fields over time and they are ignored.
const ImageEntrySchema = Type.Object({
  image: Type.Object({ image: Type.Object({ image: Type.String({ maxLength: 4096 }), transport: Type.String({ maxLength: 64 }) }) }),
});
const SlotEntrySchema = Type.Union([Type.Null(), ImageEntrySchema]);
const BootcHostSchema = Type.Object({
  apiVersion: Type.Literal('org.containers.bootc/v1'),
  kind: Type.Literal('BootcHost'),
  status: Type.Object({
    booted: Type.Optional(SlotEntrySchema),
    staged: Type.Optional(SlotEntrySchema),
    rollback: Type.Optional(SlotEntrySchema),
    /** Set after `bootc rollback`: the rollback entry boots next. */
    rollbackQueued: Type.Optional(Type.Boolean()),
  }),
});
const bootcHostParser = compileParser('bootc status', BootcHostSchema, 'BOOTFLEET_ACTIVATION_STATUS_INVALID');

export interface BootcBackendOptions {
  readonly dataDir: string;
  readonly activation?: ActivationCommand;
  readonly runner?: CommandRunner;
  /** The bootc executable; `bootc` on PATH by default. */
  readonly bootc?: string;
}

export interface BootcSlots {
  readonly booted?: string;
  readonly staged?: string;
  readonly rollback?: string;
  readonly rollbackQueued: boolean;
}

export function bootcBackend(options: BootcBackendOptions): ActivationBackend & { status(): Promise<BootcSlots> } {
  const runner = options.runner ?? spawnCommand;
  const bootc = options.bootc ?? 'bootc';
  const run = async (args: string[]) => expectSuccess(await runner([bootc, ...args], { timeoutMs: BOOTC_TIMEOUT_MS }), [bootc, ...args]);
  const idOf = (slot: Static<typeof SlotEntrySchema> | undefined): string | undefined => {
    if (slot === null || slot === undefined) return undefined;
    const ref = slot.image.image;
    const prefix = resolve(deploymentsDir(options.dataDir)) + sep;
    if (ref.transport !== 'oci' || !ref.image.startsWith(prefix)) return undefined;
    const [id, root, ...rest] = ref.image.slice(prefix.length).split(sep);
    return root === 'root' && rest.length === 0 ? id : undefined;
  };
  const status = async (): Promise<BootcSlots> => {
    const result = await run(['status', '--format=json']);
    const host = bootcHostParser.parse(parseJson(result.stdout, STATUS_MAX_BYTES, 'bootc status'));
    const slots: { booted?: string; staged?: string; rollback?: string; rollbackQueued: boolean } = { rollbackQueued: host.status.rollbackQueued === true };
    for (const key of ['booted', 'staged', 'rollback'] as const) {
      const id = idOf(host.status[key]);
      if (id !== undefined) slots[key] = id;
    }
    return slots;
  };
  return {
    name: 'bootc',
    status,
    async current() {
      // What the next boot runs: a staged image, else the queued rollback, else the booted one.
      const slots = await status();
      return slots.staged ?? (slots.rollbackQueued ? slots.rollback : slots.booted);
    },
    async switchTo(target: DeploymentRef, action: SwitchingAction | 'provision' | 'recover') {
      const slots = await status();
      // bootc rollback swaps booted and rollback; use it only when it lands on the target, and only once
      // (current() already reports a queued rollback, so a repeated switch never reaches here for it).
      if (action === 'rollback' && slots.rollback === target.id && slots.staged === undefined && !slots.rollbackQueued) {
        await run(['rollback']);
        return;
      }
      await run(['switch', '--transport', 'oci', resolve(deploymentRoot(options.dataDir, target.id))]);
    },
    activate: () => runActivationCommand(runner, options.activation),
  };
}
