import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BootfleetError, ERROR_CODES, isBootfleetError, withContext, withContextAsync } from '../../protocol/index.js';

const doc = readFileSync(new URL('../../docs/errors.md', import.meta.url), 'utf8');
const rows = [...doc.matchAll(/^\| `(BOOTFLEET_[A-Z0-9_]+)` \| (\d{3}) \|/gm)].map((m) => ({ code: m[1], status: Number(m[2]) }));

describe('docs/errors.md', () => {
  it('documents every error code, and only those', () => {
    expect(rows.map((r) => r.code).sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });
  it('gives each code the HTTP status the code uses', () => {
    for (const row of rows) {
      expect(ERROR_CODES[row.code as keyof typeof ERROR_CODES].status, row.code).toBe(row.status);
    }
  });
  it('lists each code once', () => {
    expect(new Set(rows.map((r) => r.code)).size).toBe(rows.length);
  });
});

describe('BootfleetError', () => {
  it('carries code, status, details and cause', () => {
    const cause = new Error('disk on fire');
    const error = new BootfleetError('BOOTFLEET_KEY_EXISTS', 'k.key exists', { cause, details: { path: 'k.key' } });
    expect(error.code).toBe('BOOTFLEET_KEY_EXISTS');
    expect(error.status).toBe(409);
    expect(error.cause).toBe(cause);
    expect(error.toJSON()).toEqual({ code: 'BOOTFLEET_KEY_EXISTS', message: 'k.key exists', details: { path: 'k.key' } });
    expect(isBootfleetError(error, 'BOOTFLEET_KEY_EXISTS')).toBe(true);
    expect(isBootfleetError(error, 'BOOTFLEET_INTERNAL')).toBe(false);
    expect(isBootfleetError(cause)).toBe(false);
  });
  it('adds context to a failing step and keeps the code', async () => {
    expect(() =>
      withContext('Staging', () => {
        throw new BootfleetError('BOOTFLEET_DIGEST_INVALID', 'mismatch');
      }),
    ).toThrow(expect.objectContaining({ code: 'BOOTFLEET_DIGEST_INVALID', message: 'Staging: mismatch' }));
    await expect(
      withContextAsync('Pulling', () => Promise.reject(new Error('ECONNRESET'))),
    ).rejects.toMatchObject({ code: 'BOOTFLEET_INTERNAL', message: 'Pulling: ECONNRESET' });
    expect(withContext('ok', () => 42)).toBe(42);
  });
});
