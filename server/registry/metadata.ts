/**
 * Registry metadata in the server's level database, under `registry!`:
 *   m!<repo>!<digest>            manifest record (JSON)
 *   t!<repo>!<tag>               digest the tag points at
 *   r!<repo>!<subject>!<digest>  referrer descriptor (JSON), the referrers index
 *   b!<repo>!<digest>            the repository has this blob (pushed or mounted)
 *   u!<id>                       upload session (JSON)
 * `!` sorts below every character a repository name, tag or digest may hold,
 * so a prefix scan over one repository never sees another (`a` vs `a/b`).
 * Keys sort bytewise, which gives the lexical tag order the spec asks for.
 */
import type { Level } from 'level';
import type { Descriptor } from '../../protocol/index.js';

export interface ManifestRecord {
  readonly digest: string;
  readonly mediaType: string;
  readonly size: number;
  /** Blobs the manifest refers to (config and layers), for gc. */
  readonly blobs: readonly string[];
  /** Child manifests of an index, for gc. */
  readonly children: readonly string[];
  readonly subject?: string;
}

export interface UploadSession {
  readonly id: string;
  readonly name: string;
  /** Bytes durably written to the temporary file and acknowledged to the client. */
  readonly offset: number;
  readonly startedAt: number;
}

const P = 'registry!';
const END = '\uffff';

export class RegistryMetadata {
  constructor(private readonly db: Level) {}

  /** level's typings say `get` always finds a value; abstract-level 3 returns undefined when it does not. */
  private async read(key: string): Promise<string | undefined> {
    const value: string | undefined = await this.db.get(key);
    return value;
  }

  async getManifest(repo: string, digest: string): Promise<ManifestRecord | undefined> {
    return parseRecord(await this.read(`${P}m!${repo}!${digest}`)) as ManifestRecord | undefined;
  }

  /** Stores a manifest, its optional tag and its referrer entry in one atomic batch. */
  async putManifest(repo: string, record: ManifestRecord, tag: string | undefined, referrer: Descriptor | undefined): Promise<void> {
    const ops: { type: 'put'; key: string; value: string }[] = [{ type: 'put', key: `${P}m!${repo}!${record.digest}`, value: JSON.stringify(record) }];
    if (tag !== undefined) ops.push({ type: 'put', key: `${P}t!${repo}!${tag}`, value: record.digest });
    if (referrer !== undefined && record.subject !== undefined) {
      ops.push({ type: 'put', key: `${P}r!${repo}!${record.subject}!${record.digest}`, value: JSON.stringify(referrer) });
    }
    await this.db.batch(ops);
  }

  /** Removes a manifest, every tag pointing at it and its referrer entry. */
  async deleteManifest(repo: string, record: ManifestRecord): Promise<void> {
    const ops: { type: 'del'; key: string }[] = [{ type: 'del', key: `${P}m!${repo}!${record.digest}` }];
    for await (const [key, value] of this.db.iterator({ gt: `${P}t!${repo}!`, lt: `${P}t!${repo}!${END}` })) {
      if (value === record.digest) ops.push({ type: 'del', key });
    }
    if (record.subject !== undefined) ops.push({ type: 'del', key: `${P}r!${repo}!${record.subject}!${record.digest}` });
    await this.db.batch(ops);
  }

  async getTag(repo: string, tag: string): Promise<string | undefined> {
    return this.read(`${P}t!${repo}!${tag}`);
  }

  async deleteTag(repo: string, tag: string): Promise<void> {
    await this.db.del(`${P}t!${repo}!${tag}`);
  }

  /** Tags in lexical order after `last`, at most `limit` of them. */
  async listTags(repo: string, limit: number, last: string | undefined): Promise<string[]> {
    const prefix = `${P}t!${repo}!`;
    const tags: string[] = [];
    for await (const key of this.db.keys({ gt: last === undefined ? prefix : prefix + last, lt: prefix + END, limit })) {
      tags.push(key.slice(prefix.length));
    }
    return tags;
  }

  /** A repository exists while it holds a manifest or a blob. */
  async hasRepository(repo: string): Promise<boolean> {
    for (const kind of ['m', 'b']) {
      const first = await this.db.keys({ gt: `${P}${kind}!${repo}!`, lt: `${P}${kind}!${repo}!${END}`, limit: 1 }).all();
      if (first.length > 0) return true;
    }
    return false;
  }

  async referrers(repo: string, subject: string): Promise<Descriptor[]> {
    const prefix = `${P}r!${repo}!${subject}!`;
    const result: Descriptor[] = [];
    for await (const value of this.db.values({ gt: prefix, lt: prefix + END })) result.push(JSON.parse(value) as Descriptor);
    return result;
  }

  async linkBlob(repo: string, digest: string): Promise<void> {
    await this.db.put(`${P}b!${repo}!${digest}`, '');
  }

  async hasBlob(repo: string, digest: string): Promise<boolean> {
    return this.db.has(`${P}b!${repo}!${digest}`);
  }

  async unlinkBlob(repo: string, digest: string): Promise<void> {
    await this.db.del(`${P}b!${repo}!${digest}`);
  }

  async getSession(id: string): Promise<UploadSession | undefined> {
    return parseRecord(await this.read(`${P}u!${id}`)) as UploadSession | undefined;
  }

  async putSession(session: UploadSession): Promise<void> {
    await this.db.put(`${P}u!${session.id}`, JSON.stringify(session));
  }

  async deleteSession(id: string): Promise<void> {
    await this.db.del(`${P}u!${id}`);
  }

  async countSessions(atMost: number): Promise<number> {
    return (await this.db.keys({ gt: `${P}u!`, lt: `${P}u!${END}`, limit: atMost }).all()).length;
  }

  async *sessions(): AsyncGenerator<UploadSession> {
    for await (const value of this.db.values({ gt: `${P}u!`, lt: `${P}u!${END}` })) yield JSON.parse(value) as UploadSession;
  }

  async *manifests(): AsyncGenerator<ManifestRecord> {
    for await (const value of this.db.values({ gt: `${P}m!`, lt: `${P}m!${END}` })) yield JSON.parse(value) as ManifestRecord;
  }

  /** Drops every repository's link to a blob that gc removed. */
  async unlinkEverywhere(digests: ReadonlySet<string>): Promise<void> {
    const ops: { type: 'del'; key: string }[] = [];
    for await (const key of this.db.keys({ gt: `${P}b!`, lt: `${P}b!${END}` })) {
      if (digests.has(key.slice(key.lastIndexOf('!') + 1))) ops.push({ type: 'del', key });
    }
    await this.db.batch(ops);
  }
}

/** Our own records, written by this module only; a parse failure is database corruption. */
function parseRecord(value: string | undefined): unknown {
  return value === undefined ? undefined : (JSON.parse(value) as unknown);
}
