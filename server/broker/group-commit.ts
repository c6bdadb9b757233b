/**
 * Group commit for the broker's level store: writes requested while a batch
 * is being written wait and go out together as the next batch, so 10,000
 * retained desired states cost a handful of LevelDB batch writes instead of
 * 10,000 puts. Each write's promise settles only after the batch holding it
 * is written, so the guarantee is exactly that of a single put: in the
 * LevelDB log (not fsynced, `sync: false` as level's default) before aedes
 * goes on to deliver. Batches are written one at a time, in request order,
 * so a later write to a key always wins over an earlier one.
 */

export type WriteOp = { readonly type: 'put'; readonly key: string; readonly value: Buffer } | { readonly type: 'del'; readonly key: string };

/** The part of a level (sub)database group commit needs. */
export interface BatchWriter {
  batch(ops: WriteOp[]): Promise<void>;
}

interface Pending {
  readonly ops: readonly WriteOp[];
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Operations per batch: bounds one write's memory (about 2 KiB each for a desired state). */
export const MAX_BATCH_OPS = 2_048;

export class GroupCommit {
  private queue: Pending[] = [];
  private writing: Promise<void> | undefined;

  constructor(private readonly db: BatchWriter) {}

  write(op: WriteOp): Promise<void> {
    return this.writeAll([op]);
  }

  /** Writes these operations, in order, in the same batch; resolves once that batch is written. */
  writeAll(ops: readonly WriteOp[]): Promise<void> {
    if (ops.length === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      // setImmediate: a burst of publishes made in one turn of the event loop joins the first batch.
      this.writing ??= new Promise<void>((started) => setImmediate(started)).then(() => this.drain());
    });
  }

  /** Resolves once every write requested so far is written (or failed). */
  async flush(): Promise<void> {
    for (let i = 0; i < 1_000_000 && this.writing !== undefined; i += 1) await this.writing;
  }

  private async drain(): Promise<void> {
    try {
      for (let i = 0; i < 1_000_000 && this.queue.length > 0; i += 1) {
        const batch = this.queue.splice(0, requestsUpTo(this.queue, MAX_BATCH_OPS));
        try {
          await this.db.batch(batch.flatMap((p) => p.ops));
          for (const p of batch) p.resolve();
        } catch (error) {
          for (const p of batch) p.reject(error);
        }
      }
    } finally {
      this.writing = undefined;
    }
  }
}

/** How many requests from the head of the queue fit in `maxOps` operations (at least one: a larger request goes alone). */
function requestsUpTo(queue: readonly Pending[], maxOps: number): number {
  let ops = 0;
  let count = 0;
  for (const request of queue) {
    if (count > 0 && ops + request.ops.length > maxOps) break;
    ops += request.ops.length;
    count += 1;
  }
  return count;
}
