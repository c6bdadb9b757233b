/**
 * Hand-built tar streams for tests, from node-tar's Header and Pax encoders:
 * any header a hostile layer could hold, including ones no archiver would
 * write (`..`, absolute paths, duplicate names). Paths over 100 bytes get a
 * pax extended header, as GNU tar and Go's archive/tar write them.
 */
import { Header, Pax } from 'tar';

export type TarType = 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO' | 'SparseFile';

export interface TarEntry {
  readonly path: string;
  readonly type?: TarType;
  readonly body?: string | Buffer;
  readonly linkpath?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly mtime?: Date;
}

const TYPE_FLAG: Record<TarType, string> = {
  File: '0',
  Link: '1',
  SymbolicLink: '2',
  CharacterDevice: '3',
  BlockDevice: '4',
  Directory: '5',
  FIFO: '6',
  SparseFile: 'S',
};

function block(data: Buffer): Buffer {
  const padded = Buffer.alloc(Math.ceil(data.length / 512) * 512);
  data.copy(padded);
  return padded;
}

function headerBlock(entry: TarEntry, size: number): Buffer[] {
  const type = entry.type ?? 'File';
  const mtime = entry.mtime ?? new Date(1_700_000_000_000);
  const blocks: Buffer[] = [];
  if (Buffer.byteLength(entry.path) > 99 || Buffer.byteLength(entry.linkpath ?? '') > 99) {
    blocks.push(new Pax({ path: entry.path, linkpath: entry.linkpath, mtime }).encode());
  }
  const header = new Header({
    path: entry.path.slice(0, 99),
    mode: entry.mode ?? (type === 'Directory' ? 0o755 : 0o644),
    uid: entry.uid ?? 0,
    gid: entry.gid ?? 0,
    size,
    mtime,
    type: 'File',
    linkpath: entry.linkpath?.slice(0, 99) ?? '',
    uname: '',
    gname: '',
  });
  const buf = Buffer.alloc(512);
  header.encode(buf, 0);
  // Set the type flag by hand (node-tar's encoder maps names, we want raw flags such as 'S') and fix the checksum.
  buf.write(TYPE_FLAG[type], 156, 'latin1');
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  blocks.push(buf);
  return blocks;
}

/** The tar stream of `entries` followed by the two zero blocks that end an archive. */
export function buildTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const body = entry.body === undefined ? Buffer.alloc(0) : Buffer.from(entry.body);
    parts.push(...headerBlock(entry, body.length));
    if (body.length > 0) parts.push(block(body));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
