/**
 * The public half of the server's signing key, so that an operator can read
 * it and install it on devices. Devices must receive it out of band (image,
 * USB, provisioning); fetching it from the server they verify is trust on first use.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import { publicKeyPem, type SigningKey } from '../../protocol/index.js';

const KeySchema = Type.Object({ keyId: Type.String(), algorithm: Type.String(), publicKeyPem: Type.String() });

export interface KeysOptions {
  readonly signingKey: SigningKey;
}

export const keysRoutes: FastifyPluginAsync<KeysOptions> = (app, { signingKey }) => {
  // A public key is no secret: served without a token so that provisioning scripts can fetch it.
  app.get('/api/v1/signing-keys', {
      config: { auth: 'none' },
      schema: { tags: ['keys'], summary: "The server's public desired-state signing keys", response: { 200: Type.Object({ keys: Type.Array(KeySchema) }) } },
    }, () => ({
    keys: [{ keyId: signingKey.keyId, algorithm: signingKey.algorithm, publicKeyPem: publicKeyPem(signingKey) }],
  }));
  return Promise.resolve();
};
