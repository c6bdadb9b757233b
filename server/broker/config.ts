/**
 * Broker configuration (README, "Server configuration", `broker`). The
 * server either embeds aedes (the default) or joins an external broker
 * as an MQTT client.
 */
import { Type, type Static } from 'typebox';

const ListenSchema = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    /** 0 picks a free port (tests). */
    port: Type.Integer({ minimum: 0, maximum: 65_535 }),
  },
  { additionalProperties: false },
);

const TlsListenSchema = Type.Object(
  {
    host: Type.String({ minLength: 1 }),
    port: Type.Integer({ minimum: 0, maximum: 65_535 }),
    certFile: Type.String({ minLength: 1 }),
    keyFile: Type.String({ minLength: 1 }),
    /** CA bundle of device client certificates; when set, clients may present one (mTLS). */
    caFile: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

const EmqxConfigSchema = Type.Object(
  {
    /** Base URL of the management API, e.g. http://emqx.example:18083. */
    apiUrl: Type.String({ minLength: 1, pattern: '^https?://' }),
    /** API key made in EMQX (Dashboard, System, API Keys); its secret is read from `apiSecretFile`. */
    apiKey: Type.String({ minLength: 1, maxLength: 256 }),
    apiSecretFile: Type.String({ minLength: 1 }),
    /** Authenticator id; default `password_based:built_in_database`. */
    authenticator: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
    /** `clientid` (default): the device id is the client id EMQX authenticates and authorizes; `username`: the user name. */
    userIdType: Type.Optional(Type.Union([Type.Literal('clientid'), Type.Literal('username')])),
  },
  { additionalProperties: false },
);

export const BrokerConfigSchema = Type.Object(
  {
    mode: Type.Union([Type.Literal('embedded'), Type.Literal('external')]),
    /** Embedded: plain MQTT over TCP. */
    tcp: Type.Optional(ListenSchema),
    /** Embedded: MQTT over TLS. */
    tls: Type.Optional(TlsListenSchema),
    /** Embedded: MQTT over WebSocket (path /mqtt). */
    ws: Type.Optional(ListenSchema),
    /** Embedded: largest packet after authentication, bytes (reports are up to 512 KiB). */
    maxPacketBytes: Type.Optional(Type.Integer({ minimum: 1024, maximum: 256 * 1024 * 1024 })),
    /** Embedded: bytes a client may send before it has authenticated. */
    maxPreAuthBytes: Type.Optional(Type.Integer({ minimum: 64, maximum: 16 * 1024 * 1024 })),
    /** Embedded: a connection that has not sent a complete CONNECT by then is closed, ms. */
    connectTimeoutMs: Type.Optional(Type.Integer({ minimum: 100, maximum: 600_000 })),
    /** Embedded: open connections allowed from one remote address. */
    maxConnectionsPerAddress: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
    /** External: broker URL, e.g. mqtt://broker.example:1883 or mqtts://... */
    url: Type.Optional(Type.String({ minLength: 1 })),
    /** External: the server's own MQTT account. */
    username: Type.Optional(Type.String({ minLength: 1 })),
    /** External: file holding the server's MQTT password (not the password itself, to keep it out of the config). */
    passwordFile: Type.Optional(Type.String({ minLength: 1 })),
    /** External: how enrolment provisions device accounts in the broker. */
    provisioning: Type.Optional(Type.Union([Type.Literal('mosquitto-dynsec'), Type.Literal('emqx-http'), Type.Literal('none')])),
    /** External with `provisioning: emqx-http`: EMQX 5's management API (deploy/emqx/README.md). */
    emqx: Type.Optional(EmqxConfigSchema),
  },
  { additionalProperties: false },
);
export type BrokerConfig = Static<typeof BrokerConfigSchema>;

export const DEFAULT_MQTT_PORT = 1883;

export const BROKER_DEFAULTS = {
  /** 1 MiB: a full report (512 KiB) plus topic and headers, with room. */
  maxPacketBytes: 1024 * 1024,
  /** 16 KiB: a CONNECT with id, user name, password and a presence will is far below. */
  maxPreAuthBytes: 16 * 1024,
  connectTimeoutMs: 10_000,
  /** Devices behind one NAT share an address; 256 keeps a site working and one host from exhausting sockets. */
  maxConnectionsPerAddress: 256,
} as const;

export function defaultBrokerConfig(): BrokerConfig {
  return { mode: 'embedded', tcp: { host: '127.0.0.1', port: DEFAULT_MQTT_PORT } };
}
