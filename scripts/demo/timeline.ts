/**
 * The demo's readable timeline: one line per thing that happened, with the
 * seconds since the start and who did it, and the campaign's server-sent
 * events (docs/campaigns.md, `GET /api/v1/campaigns/<id>/events`).
 */
export class Timeline {
  private readonly startMs = Date.now();

  constructor(private readonly write: (text: string) => void = (text) => process.stdout.write(text)) {}

  log(actor: string, text: string): void {
    const seconds = ((Date.now() - this.startMs) / 1000).toFixed(1).padStart(6);
    this.write(`[+${seconds}s] ${actor.padEnd(12)} ${text}\n`);
  }

  raw(text: string): void {
    this.write(text);
  }
}

interface CampaignEventData {
  readonly type: string;
  readonly state?: string;
  readonly wave?: number;
  readonly device?: string;
  readonly phase?: string;
  readonly reason?: string;
}

function describe(event: CampaignEventData): [string, string] | undefined {
  switch (event.type) {
    case 'state':
      return ['campaign', `state ${event.state ?? '?'}${event.reason === undefined ? '' : ` (${event.reason})`}`];
    case 'wave':
      return ['campaign', `wave ${String(event.wave ?? '?')} starts`];
    case 'device':
      return ['campaign', `${event.device ?? '?'} is ${event.state ?? '?'}${event.phase === undefined ? '' : ` (phase ${event.phase})`}`];
    default:
      return undefined;
  }
}

/** Follows a campaign's events until `signal` aborts; each event becomes a timeline line prefixed by the campaign id. */
export async function followCampaign(base: string, token: string, id: string, timeline: Timeline, signal: AbortSignal): Promise<void> {
  const response = await fetch(`${base}/api/v1/campaigns/${id}/events`, { headers: { authorization: `Bearer ${token}` }, signal });
  if (response.status !== 200 || response.body === null) throw new Error(`campaign ${id} events answered ${String(response.status)}`);
  const decoder = new TextDecoder();
  let buffered = '';
  try {
    for await (const chunk of response.body) {
      buffered += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
        const data = buffered.slice(0, end).split('\n').find((line) => line.startsWith('data: '));
        buffered = buffered.slice(end + 2);
        if (data === undefined) continue;
        const line = describe(JSON.parse(data.slice(6)) as CampaignEventData);
        if (line !== undefined) timeline.log(line[0], `${id}: ${line[1]}`);
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
