/**
 * Finds the extended attributes a layer carries. node-tar 7 drops PAX keys it
 * does not know, `SCHILY.xattr.*` among them, and cuts values at the first
 * NUL (tar/dist/esm/pax.js, parseKVLine), so its entries never show a file
 * capability. This scanner reads the same uncompressed stream the parser gets
 * (apply-layer.ts) and keeps, binary-safe, the `SCHILY.xattr.<name>` records
 * of each entry's PAX header (POSIX.1-2008 pax "extended header records",
 * the key GNU tar and Go's archive/tar write). It only reads: the parser and
 * its limits still decide whether the stream is valid; at the first header it
 * cannot make sense of, it stops and leaves the error to the parser.
 */

export interface EntryXattrs {
  /** The entry's path as the archive names it (PAX `path` when present). */
  readonly path: string;
  /** Attribute name (e.g. `security.capability`) to its raw value. */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

const BLOCK = 512;
const XATTR_PREFIX = 'SCHILY.xattr.';

function cString(buf: Buffer, start: number, length: number): string {
  const field = buf.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end === -1 ? field.length : end).toString('utf8');
}

/** The size field: octal text, or GNU base-256 (high bit of the first byte). */
function headerSize(header: Buffer): number | undefined {
  if (((header[124] ?? 0) & 0x80) !== 0) return undefined;
  const text = cString(header, 124, 12).trim();
  if (!/^[0-7]*$/.test(text)) return undefined;
  return text === '' ? 0 : parseInt(text, 8);
}

/** `<length> <key>=<value>\n` records; the length counts the whole record, so values may hold anything. */
function paxRecords(body: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    if (space === -1) break;
    const length = Number(body.subarray(at, space).toString('latin1'));
    if (!Number.isSafeInteger(length) || length <= space - at || at + length > body.length) break;
    const record = body.subarray(space + 1, at + length - 1);
    const eq = record.indexOf(0x3d);
    if (eq > 0) records.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    at += length;
  }
  return records;
}

export class XattrScanner {
  readonly found: EntryXattrs[] = [];
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes of entry data (with padding) still to pass over. */
  private skip = 0;
  /** Bytes of a PAX or GNU long-name body still to collect; its header type. */
  private meta: { type: string; size: number } | undefined;
  private nextPax: Map<string, Buffer> | undefined;
  private nextLongName: string | undefined;
  private stopped = false;

  /** `maxMetaBytes`: the largest PAX body read (the parser's own limit, 1 MiB). */
  constructor(private readonly maxMetaBytes: number, private readonly maxFound: number) {}

  write(chunk: Buffer): void {
    let at = 0;
    while (!this.stopped && at < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - at);
        this.skip -= n;
        at += n;
        continue;
      }
      const need = this.meta === undefined ? BLOCK : Math.ceil(this.meta.size / BLOCK) * BLOCK;
      const n = Math.min(need - this.pendingBytes, chunk.length - at);
      this.pending.push(chunk.subarray(at, at + n));
      this.pendingBytes += n;
      at += n;
      if (this.pendingBytes < need) continue;
      const data = Buffer.concat(this.pending, this.pendingBytes);
      this.pending = [];
      this.pendingBytes = 0;
      if (this.meta === undefined) this.onHeader(data);
      else this.onMeta(this.meta.type, data.subarray(0, this.meta.size));
    }
  }

  private onHeader(header: Buffer): void {
    if (header.every((b) => b === 0)) return;
    const size = headerSize(header);
    if (size === undefined) {
      this.stopped = true;
      return;
    }
    const type = String.fromCharCode(header[156] ?? 0);
    if (type === 'x' || type === 'L') {
      if (size > this.maxMetaBytes) this.stopped = true;
      else this.meta = { type, size };
      return;
    }
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === 'g') {
      // A global header's records are defaults for every entry; none of the archivers we know puts xattrs there.
      this.skip = padded;
      return;
    }
    this.onEntry(header);
    // Directories, links and devices carry no data whatever their size field says (node-tar agrees).
    this.skip = ['1', '2', '3', '4', '5', '6'].includes(type) ? 0 : padded;
  }

  private onMeta(type: string, body: Buffer): void {
    this.meta = undefined;
    if (type === 'L') this.nextLongName = cString(body, 0, body.length);
    else this.nextPax = paxRecords(body);
  }

  private onEntry(header: Buffer): void {
    const pax = this.nextPax;
    const longName = this.nextLongName;
    this.nextPax = undefined;
    this.nextLongName = undefined;
    if (pax === undefined) return;
    const xattrs = new Map<string, Buffer>();
    for (const [key, value] of pax) if (key.startsWith(XATTR_PREFIX) && key.length > XATTR_PREFIX.length) xattrs.set(key.slice(XATTR_PREFIX.length), value);
    if (xattrs.size === 0 || this.found.length >= this.maxFound) return;
    const prefix = cString(header, 345, 155);
    const name = cString(header, 0, 100);
    const path = pax.get('path')?.toString('utf8') ?? longName ?? (prefix === '' ? name : `${prefix}/${name}`);
    this.found.push({ path, xattrs });
  }
}
