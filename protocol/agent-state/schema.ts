/**
 * The persisted device state (docs/agent-deployment.md, "State file"), the
 * agent's equivalent of bootc's host status: which deployment is booted, which
 * is staged for the next activation, which one a rollback returns to, and the
 * factory image kept in its own slot; plus the probation of a deployment that
 * has been activated but not yet committed. The agent changes this data only
 * through the transition functions in transitions.ts.
 */
import { Type, type Static } from 'typebox';
import { ID_SCHEMA_PATTERN } from '../ids.js';
import { SequenceSchema, VersionSchema } from '../messages/common.js';
import { DigestSchema } from '../oci/schemas.js';
import { compileParser } from '../validate.js';

export const AGENT_STATE_SCHEMA_VERSION = 1;
/** Bounded so the state file stays small: it is rewritten (and fsynced) at every step. */
export const HISTORY_MAX_ENTRIES = 64;
export const STATE_MAX_BYTES = 256 * 1024;

/** One file-name component (docs/protocol.md, "Identifiers"); also the directory name of the deployment. */
export const DeploymentIdSchema = Type.String({ pattern: ID_SCHEMA_PATTERN });

/** Time in milliseconds since the Unix epoch: probation deadlines are short and tested in milliseconds. */
export const UnixMillisSchema = Type.Integer({ minimum: 0, maximum: 253_402_300_799_999 });

export const DeploymentRefSchema = Type.Object(
  {
    id: DeploymentIdSchema,
    manifestDigest: DigestSchema,
    version: VersionSchema,
  },
  { additionalProperties: false },
);
export type DeploymentRef = Static<typeof DeploymentRefSchema>;

export const ProbationSchema = Type.Object(
  {
    /** The deployment on probation; always the booted one. */
    deployment: DeploymentIdSchema,
    /** The deployment that was booted before; a rollback returns to it, a commit makes it the rollback slot. */
    previous: Type.Optional(DeploymentRefSchema),
    /** What started the probation. */
    cause: Type.Union([Type.Literal('activate'), Type.Literal('factory-reset')]),
    startedAtMs: UnixMillisSchema,
    deadlineMs: UnixMillisSchema,
    /** Agent starts seen during this probation (greenboot's boot counter). */
    boots: Type.Integer({ minimum: 0, maximum: 1000 }),
    maxBoots: Type.Integer({ minimum: 1, maximum: 100 }),
    /** Soak window length: how long the checks must stay green after the first all-green round before the commit. */
    soakMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
    /** When the first all-green round ended and the soak window began; on disk so that a restart continues the window. */
    soakStartedAtMs: Type.Optional(UnixMillisSchema),
  },
  { additionalProperties: false },
);
export type Probation = Static<typeof ProbationSchema>;

export const TRANSITION_ACTIONS = ['provision', 'stage', 'discard-staged', 'activate', 'commit', 'rollback', 'factory-reset', 'boot', 'soak'] as const;
export type TransitionAction = (typeof TRANSITION_ACTIONS)[number];
export const TransitionActionSchema = Type.Enum(TRANSITION_ACTIONS);

/** Actions that change the booted deployment: they are written as an intent first (recovery.ts). */
export const SWITCHING_ACTIONS = ['activate', 'rollback', 'factory-reset'] as const;
export type SwitchingAction = (typeof SWITCHING_ACTIONS)[number];

/**
 * An interrupted switch: written before the system is pointed at another
 * deployment, cleared in the same write that records the new slots. Recovery
 * at start-up re-applies the transition (it is pure, and `atMs` and `args` are
 * its only inputs besides the state) or undoes it.
 */
export const PendingTransitionSchema = Type.Object(
  {
    action: Type.Enum(SWITCHING_ACTIONS),
    atMs: UnixMillisSchema,
    /** The deployment the system is being switched to. */
    target: DeploymentIdSchema,
    /** The deployment the system was on. */
    from: Type.Optional(DeploymentIdSchema),
    healthTimeoutMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
    maxBoots: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    soakMs: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400_000 })),
    reason: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type PendingTransition = Static<typeof PendingTransitionSchema>;

export const HistoryEntrySchema = Type.Object(
  {
    atMs: UnixMillisSchema,
    action: TransitionActionSchema,
    deployment: Type.Optional(DeploymentIdSchema),
    version: Type.Optional(VersionSchema),
    reason: Type.Optional(Type.String({ maxLength: 512 })),
  },
  { additionalProperties: false },
);
export type HistoryEntry = Static<typeof HistoryEntrySchema>;

export const AgentStateSchema = Type.Object(
  {
    schemaVersion: Type.Literal(AGENT_STATE_SCHEMA_VERSION),
    /** Grows by one per write; lets a reader tell two states apart. */
    generation: Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER }),
    booted: Type.Optional(DeploymentRefSchema),
    staged: Type.Optional(DeploymentRefSchema),
    rollback: Type.Optional(DeploymentRefSchema),
    factory: Type.Optional(DeploymentRefSchema),
    probation: Type.Optional(ProbationSchema),
    pending: Type.Optional(PendingTransitionSchema),
    /** Highest desired-state and command sequences accepted (replay protection survives restarts). */
    lastDesiredSeq: Type.Optional(SequenceSchema),
    lastCommandSeq: Type.Optional(SequenceSchema),
    history: Type.Array(HistoryEntrySchema, { maxItems: HISTORY_MAX_ENTRIES }),
  },
  { additionalProperties: false },
);
export type AgentState = Static<typeof AgentStateSchema>;

export const agentStateParser = compileParser('agent state', AgentStateSchema, 'BOOTFLEET_STATE_CORRUPT');

export function initialAgentState(): AgentState {
  return { schemaVersion: AGENT_STATE_SCHEMA_VERSION, generation: 0, history: [] };
}
