/**
 * The report sequence: grows by one per report and survives restarts and
 * factory resets (it lives in the data directory, outside any deployment),
 * because the server drops a report whose seq is not above the last it stored
 * (docs/protocol.md 6.3). It is made durable before the report is sent.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { BootfleetError } from '../../protocol/index.js';
import { writeFileAtomic } from '../content/atomic-write.js';

export class ReportSequence {
  private constructor(
    private readonly path: string,
    private last: number,
  ) {}

  static async open(dataDir: string): Promise<ReportSequence> {
    const path = join(dataDir, 'report-seq.json');
    let last = 0;
    try {
      const value = JSON.parse(await readFile(path, 'utf8')) as { last?: unknown };
      if (typeof value.last !== 'number' || !Number.isSafeInteger(value.last) || value.last < 0) throw new Error('last is not a count');
      last = value.last;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new BootfleetError('BOOTFLEET_STATE_CORRUPT', `${path} cannot be read`, { cause: error, details: { path } });
      }
    }
    return new ReportSequence(path, last);
  }

  /** The next sequence, persisted (fsync, rename) before it is returned. */
  async next(): Promise<number> {
    const seq = this.last + 1;
    await writeFileAtomic(this.path, JSON.stringify({ last: seq }));
    this.last = seq;
    return seq;
  }
}
