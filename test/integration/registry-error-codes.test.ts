/**
 * The one mapping of a registry's refusal to a code (agent/registry/client.ts `expectStatus`), against a real
 * HTTP server on 127.0.0.1 port 0 answering as registries do (distribution spec v1.1, "Error Codes"). `status`
 * (the agent) keeps NOT_FOUND and RESPONSE_INVALID whatever the body says; `spec` (`bootfleet image sign|verify`)
 * gives the body's code as ours and falls back on the status when the body is none or too large.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectStatus, type RegistryErrorCodes } from '../../agent/registry/client.js';
import { createDispatcher, httpRequest } from '../../agent/registry/http.js';
import { BootfleetError } from '../../protocol/index.js';

/** `/<status>/<spec code>` answers that status with a spec error body; `none`: a plain text body; `huge`: 80 KiB of JSON. */
function answer(url: string): { status: number; body: string } {
  const [, status = '500', spec = 'none'] = url.split('/');
  if (spec === 'none') return { status: Number(status), body: 'no' };
  if (spec === 'huge') return { status: Number(status), body: JSON.stringify({ errors: [{ code: 'DENIED', message: 'x'.repeat(80 * 1024) }] }) };
  return { status: Number(status), body: JSON.stringify({ errors: [{ code: spec, message: 'refused' }] }) };
}

describe('registry error codes, one mapping for the agent and the CLI', () => {
  let server: Server;
  let dispatcher: Dispatcher;
  let base: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const { status, body } = answer(req.url ?? '/');
      res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    dispatcher = createDispatcher();
  });
  afterAll(async () => {
    await dispatcher.close();
    await new Promise((resolve) => server.close(resolve));
  });

  const codeOf = async (path: string, ok: readonly number[] | '2xx', codes: RegistryErrorCodes): Promise<string> => {
    const response = await httpRequest(dispatcher, { url: `${base}${path}` });
    try {
      await expectStatus(response, ok, `GET ${path}`, codes);
      return 'ok';
    } catch (error) {
      if (!(error instanceof BootfleetError)) throw error;
      expect(error.details.status).toBe(response.statusCode);
      return error.code;
    }
  };

  it('accepts the statuses named, or any 2xx', async () => {
    expect(await codeOf('/206/none', [200, 206], 'status')).toBe('ok');
    expect(await codeOf('/204/none', '2xx', 'spec')).toBe('ok');
    // A Range GET answered 204 is not a blob.
    expect(await codeOf('/204/none', [200, 206], 'status')).toBe('BOOTFLEET_REGISTRY_RESPONSE_INVALID');
  });

  it('status: NOT_FOUND for a 404 and RESPONSE_INVALID for the rest, whatever the body says', async () => {
    expect(await codeOf('/404/MANIFEST_UNKNOWN', [200], 'status')).toBe('BOOTFLEET_REGISTRY_NOT_FOUND');
    expect(await codeOf('/403/DENIED', [200], 'status')).toBe('BOOTFLEET_REGISTRY_RESPONSE_INVALID');
    expect(await codeOf('/503/none', [200], 'status')).toBe('BOOTFLEET_REGISTRY_RESPONSE_INVALID');
  });

  it('spec: the body code as ours; the status when the body has none or is over 64 KiB', async () => {
    expect(await codeOf('/404/MANIFEST_UNKNOWN', '2xx', 'spec')).toBe('BOOTFLEET_REGISTRY_MANIFEST_UNKNOWN');
    expect(await codeOf('/403/DENIED', '2xx', 'spec')).toBe('BOOTFLEET_REGISTRY_DENIED');
    expect(await codeOf('/400/NO_SUCH_SPEC_CODE', '2xx', 'spec')).toBe('BOOTFLEET_REGISTRY_RESPONSE_INVALID');
    expect(await codeOf('/404/none', '2xx', 'spec')).toBe('BOOTFLEET_REGISTRY_NOT_FOUND');
    expect(await codeOf('/403/huge', '2xx', 'spec')).toBe('BOOTFLEET_REGISTRY_RESPONSE_INVALID');
  });
});
