/**
 * Builds a report (protocol/messages/report.ts) from a pipeline phase, the
 * device state (slots) and the content store (inventory), and checks it
 * against the schema before it leaves the device.
 */
import {
  reportParser,
  type AgentState,
  type AuditRecord,
  type BootfleetError,
  type DeploymentRef,
  type HealthResult,
  type Phase,
  type Report,
  type Slot,
  INVENTORY_MAX_ITEMS,
} from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import { listInventory } from '../content/inventory.js';

export const AGENT_VERSION = '0.1.0';

export interface ReportInput {
  readonly device: string;
  readonly seq: number;
  readonly nowMs: number;
  readonly phase: Phase;
  readonly state: AgentState;
  readonly store: ContentStore;
  readonly campaign?: string;
  readonly desiredSeq?: number;
  readonly commandId?: string;
  readonly progress?: { readonly doneBytes: number; readonly totalBytes: number };
  readonly health?: readonly HealthResult[];
  readonly error?: BootfleetError;
  /** Include the store's inventory (phase changes do; progress reports, sent every second, do not). */
  readonly inventory?: boolean;
  /** Audit entries not acknowledged yet (audit-sync.ts). */
  readonly audit?: readonly AuditRecord[];
}

function slot(ref: DeploymentRef | undefined): Slot | undefined {
  return ref === undefined ? undefined : { digest: ref.manifestDigest, version: ref.version };
}

function slots(state: AgentState): Report['slots'] {
  const out: Record<string, Slot> = {};
  for (const name of ['booted', 'staged', 'rollback', 'factory'] as const) {
    const value = slot(state[name]);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

export async function buildReport(input: ReportInput): Promise<Report> {
  const inventory = input.inventory === false ? undefined : (await listInventory(input.store)).slice(0, INVENTORY_MAX_ITEMS).map((item) => item.digest);
  const report: Report = {
    device: input.device,
    seq: input.seq,
    sentAt: Math.floor(input.nowMs / 1000),
    phase: input.phase,
    slots: slots(input.state),
    ...(inventory === undefined ? {} : { inventory: [...new Set(inventory)] }),
    agentVersion: AGENT_VERSION,
    ...(input.campaign === undefined ? {} : { campaign: input.campaign }),
    ...(input.desiredSeq === undefined ? {} : { desiredSeq: input.desiredSeq }),
    ...(input.commandId === undefined ? {} : { commandId: input.commandId }),
    ...(input.progress === undefined ? {} : { progress: { doneBytes: input.progress.doneBytes, totalBytes: input.progress.totalBytes } }),
    ...(input.health === undefined ? {} : { health: input.health.slice(0, 64).map((h) => ({ ...h })) }),
    ...(input.error === undefined ? {} : { error: { code: input.error.code, message: input.error.message.slice(0, 2048) } }),
    ...(input.audit === undefined ? {} : { audit: input.audit.map((entry) => ({ ...entry })) }),
  };
  return reportParser.parse(report);
}
