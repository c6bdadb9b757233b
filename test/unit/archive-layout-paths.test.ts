/** Which archive entry paths an OCI layout may hold (agent/archive/layout-paths.ts). */
import { describe, expect, it } from 'vitest';
import { classifyLayoutPath } from '../../agent/archive/index.js';

const HEX = 'a'.repeat(64);

describe('classifyLayoutPath', () => {
  it('accepts the layout files, its directories and sha256 blobs, with or without ./', () => {
    expect(classifyLayoutPath('oci-layout', false)).toEqual({ kind: 'oci-layout' });
    expect(classifyLayoutPath('./index.json', false)).toEqual({ kind: 'index' });
    expect(classifyLayoutPath('./', true)).toEqual({ kind: 'directory' });
    expect(classifyLayoutPath('blobs/sha256/', true)).toEqual({ kind: 'directory' });
    expect(classifyLayoutPath(`blobs/sha256/${HEX}`, false)).toMatchObject({ kind: 'blob', digest: { value: `sha256:${HEX}` } });
  });

  it.each([
    ['../x', false],
    ['/etc/passwd', false],
    [`blobs/sha256/../../${HEX}`, false],
    [`blobs/sha256/${HEX.toUpperCase()}`, false],
    [`blobs/sha512/${HEX}${HEX}`, false],
    [`blobs/sha256/${HEX}/`, true],
    ['index.json', true],
    ['blobs', false],
    ['manifest.json', false],
    ['.//index.json', false],
  ])('refuses %j (directory: %s)', (path, isDirectory) => {
    expect(() => classifyLayoutPath(path, isDirectory)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_ARCHIVE_PATH_UNSAFE' }));
  });
});
