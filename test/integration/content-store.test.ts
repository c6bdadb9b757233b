/**
 * The content store on a real directory: the layout files, digests that are
 * never paths unless valid (`sha256:../../x`), blobs that stop verifying,
 * inventory that ignores junk, refs and gc.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { collectGarbage, ContentStore, listInventory } from '../../agent/index.js';
import { digestOf, MediaType } from '../../protocol/index.js';
import { writeLayout } from '../helpers/oci-layout-writer.js';
import { buildTar } from '../helpers/tar-build.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dataDir = useTempDir('bf-store-');

describe('ContentStore', () => {
  it('creates an OCI image layout', async () => {
    await ContentStore.open(dataDir());
    expect(JSON.parse(readFileSync(join(dataDir(), 'content', 'oci-layout'), 'utf8'))).toEqual({ imageLayoutVersion: '1.0.0' });
    expect(JSON.parse(readFileSync(join(dataDir(), 'content', 'index.json'), 'utf8'))).toMatchObject({ schemaVersion: 2, manifests: [] });
  });

  it('never turns an invalid digest into a path', async () => {
    const store = await ContentStore.open(dataDir());
    expect(await store.has({ digest: 'sha256:../../../etc/passwd', size: 1 })).toBe(false);
    await expect(store.readBytes({ digest: 'sha256:../../x', size: 1 }, 10)).rejects.toMatchObject({ code: 'BOOTFLEET_DIGEST_INVALID' });
    expect(() => store.openRead({ digest: 'sha256:../../x' })).toThrow(expect.objectContaining({ code: 'BOOTFLEET_DIGEST_INVALID' }));
  });

  it('refuses to store or read bytes that do not match their digest', async () => {
    const store = await ContentStore.open(dataDir());
    const good = Buffer.from('{"a":1}');
    const digest = digestOf(good);
    await expect(store.putBytes(Buffer.from('{"a":2}'), digest)).rejects.toMatchObject({ code: 'BOOTFLEET_DIGEST_INVALID' });
    expect(await store.has({ digest: digest.value, size: good.length })).toBe(false);
    await store.putBytes(good, digest);
    writeFileSync(join(dataDir(), 'content', 'blobs', 'sha256', digest.hex), '{"a":3}');
    await expect(store.readBytes({ digest: digest.value, size: good.length }, 100)).rejects.toMatchObject({ code: 'BOOTFLEET_STORE_INVALID' });
  });

  it('lists only valid blob names and collects what no ref reaches', async () => {
    const [image] = writeLayout(join(dataDir(), 'content'), [{ tag: 'keep', layers: [{ tar: buildTar([{ path: 'f', body: 'x' }]), compression: 'gzip' }] }]);
    if (image === undefined) throw new Error('no image');
    writeFileSync(join(dataDir(), 'content', 'blobs', 'sha256', 'not-a-digest'), 'junk');
    const orphan = Buffer.from('orphan');
    const store = await ContentStore.open(dataDir());
    await store.putBytes(orphan, digestOf(orphan));
    const names = (await listInventory(store)).map((i) => i.digest);
    expect(names).toHaveLength(4);
    expect(names).not.toContain('sha256:not-a-digest');
    const gc = await collectGarbage(store);
    expect(gc).toEqual({ removed: [digestOf(orphan).value], freedBytes: orphan.length });
    expect(existsSync(join(dataDir(), 'content', 'blobs', 'sha256', image.layers[0]?.digest.slice(7) ?? ''))).toBe(true);
    await store.setRef('other', { ...image.manifest, mediaType: MediaType.ociManifest });
    expect(await store.resolveRef('other')).toMatchObject({ digest: image.manifest.digest });
  });
});
