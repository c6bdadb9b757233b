/**
 * Ingest of what devices publish. Every message is hostile until parsed:
 * topic, then JSON with a size limit, then schema, then the device named in
 * the message must be the device of the topic. A message failing any step
 * is dropped and counted by error code; nothing is stored.
 */
import type { Logger } from 'pino';
import { BootfleetError, parsePresence, parseReport, parseTopic, type Report } from '../../protocol/index.js';
import type { DeviceRegistry } from './registry.js';

export interface IngestCounters {
  reportsStored: number;
  reportsDuplicate: number;
  presenceApplied: number;
  /** Dropped messages by error code. */
  dropped: Record<string, number>;
}

export function newIngestCounters(): IngestCounters {
  return { reportsStored: 0, reportsDuplicate: 0, presenceApplied: 0, dropped: {} };
}

/** Told about every report the registry stored (never a duplicate); must not throw. */
export type ReportListener = (report: Report) => Promise<void>;

export class DeviceIngest {
  readonly counters = newIngestCounters();
  private readonly listeners: ReportListener[] = [];

  constructor(
    private readonly registry: DeviceRegistry,
    private readonly logger: Logger,
  ) {}

  /** Campaigns (issue #6) follow reports through this hook. */
  onReport(listener: ReportListener): void {
    this.listeners.push(listener);
  }

  /** Handles one message from the broker; never throws. */
  async handle(topic: string, payload: Buffer): Promise<void> {
    try {
      await this.ingest(topic, payload);
    } catch (error) {
      const code = error instanceof BootfleetError ? error.code : 'BOOTFLEET_INTERNAL';
      this.counters.dropped[code] = (this.counters.dropped[code] ?? 0) + 1;
      const level = code === 'BOOTFLEET_INTERNAL' ? 'error' : 'debug';
      this.logger[level]({ topic: topic.slice(0, 256), code, err: error }, 'dropped a device message');
    }
  }

  private async ingest(topic: string, payload: Buffer): Promise<void> {
    const { deviceId, kind } = parseTopic(topic);
    if (kind === 'reports') {
      const report = parseReport(payload);
      checkSameDevice(report.device, deviceId);
      const outcome = await this.registry.applyReport(report);
      if (outcome === 'duplicate') {
        this.counters.reportsDuplicate += 1;
        return;
      }
      this.counters.reportsStored += 1;
      for (const listener of this.listeners) await listener(report);
      return;
    }
    if (kind === 'presence') {
      const presence = parsePresence(payload);
      checkSameDevice(presence.device, deviceId);
      await this.registry.applyPresence(presence);
      this.counters.presenceApplied += 1;
      return;
    }
    throw new BootfleetError('BOOTFLEET_TOPIC_INVALID', `devices do not publish on ${kind} topics`);
  }
}

function checkSameDevice(named: string, topicDevice: string): void {
  if (named !== topicDevice) {
    throw new BootfleetError('BOOTFLEET_DEVICE_MISMATCH', `message names device ${JSON.stringify(named)} but came on the topic of ${JSON.stringify(topicDevice)}`);
  }
}
