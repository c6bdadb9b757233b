/**
 * Prometheus metrics (docs/control-plane.md, "Metrics"), served at `/metrics`
 * in the text exposition format. Hot paths pay one number add (`mqttMessage`,
 * `blobBytes`, copied into prom-client counters at scrape time) or one
 * histogram observation (`httpRequest`, under 1 µs here); everything that
 * is state (devices online, campaign progress, broker and ingest counters) is
 * read from the existing services at scrape time in `collect()`, so nothing
 * is counted twice and nothing drifts from the state it reports.
 * Each server has its own prom-client registry, so several servers in one
 * process (tests) never share or clash over their metrics; prom-client's
 * process metrics are per process, so they are collected once per process
 * (their event-loop monitor and GC observer cannot be stopped) and merged
 * into each server's registry.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { TopicKind } from '../protocol/index.js';
import type { ControlPlane } from './broker/control-plane.js';

/** Metric label of each topic kind: the message, in the singular (`report`, not `reports`). */
const KIND_LABEL: Readonly<Record<TopicKind, string>> = { desired: 'desired', commands: 'command', reports: 'report', presence: 'presence' };
const KINDS = Object.keys(KIND_LABEL) as TopicKind[];
const KIND_SUFFIXES = KINDS.map((kind) => [kind, `/${kind}`] as const);

export type MqttDirection = 'in' | 'out';
export type BlobDirection = 'served' | 'received';

/** One running or paused campaign, as the metrics show it. */
export interface CampaignMetrics {
  readonly id: string;
  /** Devices per campaign state (pending, issued, in-progress, succeeded, failed, reverted). */
  readonly states: Readonly<Record<string, number>>;
  /** Devices per last reported phase. */
  readonly phases: Readonly<Record<string, number>>;
}

/** Where the scrape-time gauges read their values; every source is optional (unit tests). */
export interface MetricSources {
  readonly devices?: () => Promise<{ enrolled: number; online: number }>;
  readonly campaigns?: () => readonly CampaignMetrics[];
  /** Bytes of desired states signed ahead held in memory, all campaigns (campaigns/store.ts). */
  readonly signedAheadBytes?: () => number;
  /** Clients connected to the embedded broker (0 for an external broker). */
  readonly connectedClients?: () => number;
  /** Counters kept elsewhere (broker refusals, ingest drops), each exported as a counter. */
  readonly broker?: () => { authFailures: number; publishDenied: number; subscribeDenied: number; rejected: Readonly<Partial<Record<string, number>>> };
  readonly ingestDropped?: () => Readonly<Record<string, number>>;
}

/**
 * The server's publishing side of the control plane, counting each message
 * by kind. The kind is the topic's last level (protocol/topics.ts); the
 * server publishes only on its own well-formed topics.
 */
export function countPublishes(plane: Pick<ControlPlane, 'publish' | 'publishMany'>, metrics: ServerMetrics): Pick<ControlPlane, 'publish' | 'publishMany'> {
  // Counted once the broker took it: a refused publish was not sent. By suffix, not a slice of the
  // topic: a start counts 10,000 desired states.
  const count = (topic: string): void => {
    const kind = KIND_SUFFIXES.find(([, suffix]) => topic.endsWith(suffix));
    if (kind !== undefined) metrics.mqttMessage('out', kind[0]);
  };
  return {
    async publish(topic, payload, options) {
      await plane.publish(topic, payload, options);
      count(topic);
    },
    async publishMany(messages) {
      await plane.publishMany(messages);
      for (const message of messages) count(message.topic);
    },
  };
}

function zeroKinds(): Record<TopicKind, number> {
  return { desired: 0, commands: 0, reports: 0, presence: 0 };
}

let processMetrics: Registry | undefined;

/** prom-client's default process metrics (CPU, memory, heap, event-loop lag, GC), started once per process. */
function processRegistry(): Registry {
  if (processMetrics === undefined) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

/** Seconds: from 1 ms (a cached GET) to 30 s (a large blob or a slow client). */
const HTTP_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class ServerMetrics {
  /** What `/metrics` serves: this server's metrics, plus the process metrics unless switched off. */
  readonly registry: Registry;
  private readonly own = new Registry();
  /**
   * Hot-path counts as plain numbers, copied into their counters at scrape
   * time: an increment is one property add (prom-client's own `inc` hashes its
   * labels on every call, about 260 ns here).
   */
  private readonly mqtt: Record<MqttDirection, Record<TopicKind, number>> = { in: zeroKinds(), out: zeroKinds() };
  private readonly blob: Record<BlobDirection, number> = { served: 0, received: 0 };
  private readonly http: Histogram<'method' | 'route' | 'status'>;
  /** Histogram children by `method route status`: a Map lookup instead of prom-client's label hashing per request. */
  private readonly httpChildren = new Map<string, { observe(value: number): void }>();
  private sources: MetricSources = {};

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.own];
    const { mqtt, blob } = this;
    new Counter({
      name: 'bootfleet_mqtt_messages_total',
      help: 'MQTT messages of the bootfleet protocol: in = published by devices and received by the server, out = published by the server.',
      labelNames: ['direction', 'kind'] as const,
      registers,
      collect() {
        this.reset();
        for (const direction of ['in', 'out'] as const) for (const kind of KINDS) this.inc({ direction, kind: KIND_LABEL[kind] }, mqtt[direction][kind]);
      },
    });
    new Counter({
      name: 'bootfleet_registry_blob_bytes_total',
      help: 'Blob bytes of the embedded OCI registry: served = written to pulling clients, received = read from pushing clients.',
      labelNames: ['direction'] as const,
      registers,
      collect() {
        this.reset();
        this.inc({ direction: 'served' }, blob.served);
        this.inc({ direction: 'received' }, blob.received);
      },
    });
    this.http = new Histogram({
      name: 'bootfleet_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern (not the raw URL) and status, from arrival to the response being closed.',
      labelNames: ['method', 'route', 'status'] as const,
      buckets: HTTP_BUCKETS,
      registers,
    });
    this.registerStateGauges();
    this.registry = options.defaultMetrics ?? true ? Registry.merge([this.own, processRegistry()]) : this.own;
  }

  /** Connects the scrape-time gauges to the running services. */
  observe(sources: MetricSources): void {
    this.sources = sources;
  }

  mqttMessage(direction: MqttDirection, kind: TopicKind): void {
    this.mqtt[direction][kind] += 1;
  }

  blobBytes(direction: BlobDirection, bytes: number): void {
    this.blob[direction] += bytes;
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    const key = `${method} ${status} ${route}`;
    let child = this.httpChildren.get(key);
    if (child === undefined) {
      child = this.http.labels({ method, route, status: String(status) });
      this.httpChildren.set(key, child);
    }
    child.observe(seconds);
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }

  private registerStateGauges(): void {
    const registers = [this.own];
    const sources = (): MetricSources => this.sources;
    new Gauge({
      name: 'bootfleet_devices',
      help: 'Enrolled devices, and those online by their presence (last will included).',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        const read = sources().devices;
        if (read === undefined) return;
        const { enrolled, online } = await read();
        this.set({ state: 'enrolled' }, enrolled);
        this.set({ state: 'online' }, online);
      },
    });
    new Gauge({
      name: 'bootfleet_mqtt_connected_clients',
      help: 'Clients connected to the embedded broker (0 with an external broker: ask the broker).',
      registers,
      collect() {
        this.set(sources().connectedClients?.() ?? 0);
      },
    });
    this.registerCampaignGauges();
    this.registerSignedAheadGauge();
    this.registerCopiedCounters();
  }

  /** Only running and paused campaigns: finished ones would grow the label set without bound. */
  private registerCampaignGauges(): void {
    const sources = (): MetricSources => this.sources;
    const registers = [this.own];
    const campaigns = (): readonly CampaignMetrics[] => sources().campaigns?.() ?? [];
    new Gauge({
      name: 'bootfleet_campaign_devices',
      help: 'Devices of each running or paused campaign per campaign state.',
      labelNames: ['campaign', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const c of campaigns()) for (const [state, n] of Object.entries(c.states)) this.set({ campaign: c.id, state }, n);
      },
    });
    new Gauge({
      name: 'bootfleet_campaign_device_phases',
      help: 'Devices of each running or paused campaign per last reported phase.',
      labelNames: ['campaign', 'phase'] as const,
      registers,
      collect() {
        this.reset();
        for (const c of campaigns()) for (const [phase, n] of Object.entries(c.phases)) this.set({ campaign: c.id, phase }, n);
      },
    });
  }

  /** Memory the campaigns' bundles signed ahead hold: bounded (64 MiB), released when a campaign ends. */
  private registerSignedAheadGauge(): void {
    const sources = (): MetricSources => this.sources;
    new Gauge({
      name: 'bootfleet_campaign_signed_ahead_bytes',
      help: 'Bytes of desired states signed ahead and held in memory until their campaign ends, all campaigns together.',
      registers: [this.own],
      collect() {
        this.set(sources().signedAheadBytes?.() ?? 0);
      },
    });
  }

  /** Counters the broker and the ingest already keep, copied at scrape time (they only grow). */
  private registerCopiedCounters(): void {
    const sources = (): MetricSources => this.sources;
    const registers = [this.own];
    new Counter({
      name: 'bootfleet_mqtt_refusals_total',
      help: 'Embedded broker refusals: failed logins, denied publishes and subscriptions, and connections the packet guard cut (by its reason).',
      labelNames: ['reason'] as const,
      registers,
      collect() {
        const counts = sources().broker?.();
        if (counts === undefined) return;
        this.reset();
        this.inc({ reason: 'auth' }, counts.authFailures);
        this.inc({ reason: 'publish' }, counts.publishDenied);
        this.inc({ reason: 'subscribe' }, counts.subscribeDenied);
        for (const [reason, n] of Object.entries(counts.rejected)) if (n !== undefined) this.inc({ reason }, n);
      },
    });
    new Counter({
      name: 'bootfleet_mqtt_dropped_messages_total',
      help: 'Device messages the server dropped at its edge (unparsable, wrong device, unknown), by error code.',
      labelNames: ['code'] as const,
      registers,
      collect() {
        this.reset();
        for (const [code, n] of Object.entries(sources().ingestDropped?.() ?? {})) this.inc({ code }, n);
      },
    });
  }
}
