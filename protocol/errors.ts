/**
 * The one error model of bootfleet. Every failure that leaves a module is a
 * BootfleetError with a stable `code`; callers and tests branch on the code,
 * never on the message text. Every code below is documented in docs/errors.md,
 * and test/unit/errors-documented.test.ts keeps the two in step.
 */

interface ErrorSpec {
  /** HTTP status used when the error crosses the HTTP API. */
  readonly status: number;
  /** One line, for docs and `--help`; the instance message gives specifics. */
  readonly summary: string;
}

export const ERROR_CODES = {
  // Input parsing at the edge (protocol/)
  BOOTFLEET_JSON_INVALID: { status: 400, summary: 'Input is not well-formed JSON.' },
  BOOTFLEET_MESSAGE_INVALID: { status: 400, summary: 'A message does not match its schema.' },
  BOOTFLEET_MESSAGE_TOO_LARGE: { status: 413, summary: 'A message is larger than its size limit.' },
  BOOTFLEET_DIGEST_INVALID: { status: 400, summary: 'A content digest is not sha256:<64 hex> or sha512:<128 hex>.' },
  BOOTFLEET_ID_INVALID: { status: 400, summary: 'A device or campaign id breaks the id rules.' },
  BOOTFLEET_TOPIC_INVALID: { status: 400, summary: 'An MQTT topic is not a bootfleet v1 topic.' },
  BOOTFLEET_VERSION_INVALID: { status: 400, summary: 'An image version is not a dotted numeric version.' },
  BOOTFLEET_OCI_INVALID: { status: 400, summary: 'An OCI manifest, index, config or descriptor is malformed.' },
  BOOTFLEET_DOWNGRADE_REFUSED: { status: 409, summary: 'The target image version is below the booted one and downgrades are not allowed.' },
  // Signed envelope (protocol/envelope)
  BOOTFLEET_SIG_TOO_LARGE: { status: 413, summary: 'A signed envelope is larger than the verifier accepts.' },
  BOOTFLEET_SIG_BUNDLE_INVALID: { status: 400, summary: 'A signed envelope is not a well-formed sigstore v0.3 DSSE bundle.' },
  BOOTFLEET_SIG_KEY_UNKNOWN: { status: 401, summary: 'The envelope names a key that is not trusted.' },
  BOOTFLEET_SIG_INVALID: { status: 401, summary: 'The signature does not verify: payload or signature altered, or wrong key.' },
  BOOTFLEET_SIG_PAYLOAD_TYPE: { status: 400, summary: 'The envelope payload type is not the one expected.' },
  BOOTFLEET_SIG_EXPIRED: { status: 401, summary: 'The signed message has expired.' },
  BOOTFLEET_SIG_NOT_YET_VALID: { status: 401, summary: 'The signed message is issued in the future.' },
  BOOTFLEET_SIG_REPLAYED: { status: 409, summary: 'The signed sequence number is not above the last one accepted.' },
  BOOTFLEET_SIG_WRONG_DEVICE: { status: 403, summary: 'The signed message is addressed to another device.' },
  // Keys (protocol/envelope/keys)
  BOOTFLEET_KEY_EXISTS: { status: 409, summary: 'A key file already exists and will not be overwritten.' },
  BOOTFLEET_KEY_INVALID: { status: 400, summary: 'A key file cannot be read or holds an unsupported key type.' },
  // Embedded OCI registry (server/registry): one code per OCI Distribution Spec v1.1
  // error code ("Error Codes" table); the JSON body carries the spec's code, see docs/registry.md.
  BOOTFLEET_REGISTRY_BLOB_UNKNOWN: { status: 404, summary: 'The blob is not known to the repository.' },
  BOOTFLEET_REGISTRY_BLOB_UPLOAD_INVALID: { status: 400, summary: 'The blob upload is invalid (bad request for this upload).' },
  BOOTFLEET_REGISTRY_CHUNK_OUT_OF_ORDER: { status: 416, summary: 'An upload chunk does not start where the upload stands.' },
  BOOTFLEET_REGISTRY_BLOB_UPLOAD_UNKNOWN: { status: 404, summary: 'The upload session is not known (finished, cancelled or never started).' },
  BOOTFLEET_REGISTRY_MANIFEST_BLOB_UNKNOWN: { status: 400, summary: 'A manifest refers to a blob or manifest the repository does not have.' },
  BOOTFLEET_REGISTRY_MANIFEST_INVALID: { status: 400, summary: 'A pushed manifest is malformed or of an unsupported media type.' },
  BOOTFLEET_REGISTRY_MANIFEST_UNKNOWN: { status: 404, summary: 'The manifest (tag or digest) is not known to the repository.' },
  BOOTFLEET_REGISTRY_NAME_INVALID: { status: 400, summary: 'A repository name or tag breaks the distribution spec grammar.' },
  BOOTFLEET_REGISTRY_NAME_UNKNOWN: { status: 404, summary: 'The repository or endpoint is not known.' },
  BOOTFLEET_REGISTRY_SIZE_INVALID: { status: 400, summary: 'Declared and received sizes of an upload disagree.' },
  BOOTFLEET_REGISTRY_TOO_LARGE: { status: 413, summary: 'A manifest or blob is larger than the registry accepts.' },
  BOOTFLEET_REGISTRY_RANGE_UNSATISFIABLE: { status: 416, summary: 'The requested byte range lies outside the blob.' },
  BOOTFLEET_REGISTRY_UNAUTHORIZED: { status: 401, summary: 'The request needs credentials, or they are wrong.' },
  BOOTFLEET_REGISTRY_DENIED: { status: 403, summary: 'The credentials are valid but do not allow this action.' },
  BOOTFLEET_REGISTRY_UNSUPPORTED: { status: 405, summary: 'The operation is switched off or not supported.' },
  BOOTFLEET_REGISTRY_TOO_MANY_REQUESTS: { status: 429, summary: 'Too many upload sessions are open.' },
  // Image signatures (bootfleet image sign/verify)
  BOOTFLEET_SIG_MISSING: { status: 401, summary: 'No signature by a trusted key was found for the image.' },
  // Files, configuration and CLI
  BOOTFLEET_FILE_UNREADABLE: { status: 500, summary: 'A file the command needs cannot be read.' },
  BOOTFLEET_CONFIG_INVALID: { status: 500, summary: 'The configuration is invalid.' },
  BOOTFLEET_NOT_FOUND: { status: 404, summary: 'No such route or resource.' },
  BOOTFLEET_CLI_USAGE: { status: 400, summary: 'The command line is wrong.' },
  BOOTFLEET_INTERNAL: { status: 500, summary: 'An unexpected internal error; the cause holds details.' },
  // Agent deployment: state file, transitions, deployments, activation, health (agent/deploy, agent/health; issue #5)
  BOOTFLEET_STATE_CORRUPT: { status: 500, summary: 'The agent state file cannot be parsed or breaks its schema.' },
  BOOTFLEET_STATE_WRITE_FAILED: { status: 500, summary: 'The agent state file could not be written durably.' },
  BOOTFLEET_TRANSITION_INVALID: { status: 409, summary: 'The requested deployment transition is impossible from the current state.' },
  BOOTFLEET_DEPLOYMENT_INCOMPLETE: { status: 500, summary: 'A deployment directory is missing, incomplete or altered.' },
  BOOTFLEET_ACTIVATION_FAILED: { status: 500, summary: 'The activation backend or activation command failed or timed out.' },
  BOOTFLEET_ACTIVATION_STATUS_INVALID: { status: 500, summary: 'The activation backend reported a status that cannot be parsed.' },
  BOOTFLEET_HEALTH_CHECK_FAILED: { status: 500, summary: 'A required health check failed; the deployment was rolled back.' },
  BOOTFLEET_HEALTH_DEADLINE: { status: 500, summary: 'The probation deadline passed before the health checks passed; the deployment was rolled back.' },
  BOOTFLEET_HEALTH_TOO_MANY_BOOTS: { status: 500, summary: 'The deployment started too many times without passing its health checks; it was rolled back.' },
  BOOTFLEET_POLICY_INVALID: { status: 400, summary: 'An update policy cannot be applied (for example an unknown time zone).' },
  // Server control plane (server/broker, server/identity, server/devices; issue #6)
  BOOTFLEET_AUTH_MISSING: { status: 401, summary: 'The API call carries no bearer token.' },
  BOOTFLEET_AUTH_INVALID: { status: 401, summary: 'The API token is not known.' },
  BOOTFLEET_AUTH_FORBIDDEN: { status: 403, summary: 'The API token\'s role does not allow this call.' },
  BOOTFLEET_ENROLL_TOKEN_INVALID: { status: 401, summary: 'The enrolment token is not known.' },
  BOOTFLEET_ENROLL_EXISTS: { status: 409, summary: 'The device is already enrolled.' },
  BOOTFLEET_BROKER_UNAVAILABLE: { status: 503, summary: 'The MQTT broker cannot be reached.' },
  BOOTFLEET_BROKER_PROVISION_FAILED: { status: 502, summary: 'The external broker refused to create a device account or ACL.' },
  BOOTFLEET_DEVICE_NOT_FOUND: { status: 404, summary: 'No device has this id.' },
  BOOTFLEET_DEVICE_MISMATCH: { status: 400, summary: 'A device message names another device than its topic.' },
  BOOTFLEET_DEVICE_CURSOR_INVALID: { status: 400, summary: 'A pagination cursor is malformed.' },
  BOOTFLEET_SERVER_UNREACHABLE: { status: 503, summary: 'The CLI cannot reach the server API.' },
  // Agent content: registry client, resumable fetch, content store, layer unpack (agent/, issue #4)
  BOOTFLEET_REGISTRY_REFERENCE_INVALID: { status: 400, summary: 'An image reference is not host[:port]/name[:tag][@digest].' },
  BOOTFLEET_REGISTRY_AUTH_FAILED: { status: 401, summary: 'The registry refused the credentials or wants some none were given, or its auth challenge is malformed.' },
  BOOTFLEET_REGISTRY_NOT_FOUND: { status: 404, summary: 'The registry has no such repository, tag, manifest or blob.' },
  BOOTFLEET_REGISTRY_RESPONSE_INVALID: { status: 502, summary: 'The registry answered with an unexpected status, header or body.' },
  BOOTFLEET_REGISTRY_PLATFORM_MISSING: { status: 404, summary: 'The image index has no manifest for the device platform.' },
  BOOTFLEET_FETCH_RETRIES_EXHAUSTED: { status: 503, summary: 'A blob download failed more times than its retry budget allows.' },
  BOOTFLEET_FETCH_DIGEST_MISMATCH: { status: 502, summary: 'A downloaded blob does not hash to its descriptor digest, even after refetching it.' },
  BOOTFLEET_STORE_INVALID: { status: 500, summary: 'The local content store is damaged or holds a blob that does not verify.' },
  BOOTFLEET_UNPACK_PATH_UNSAFE: { status: 422, summary: 'A layer entry path is absolute, climbs with .., or replaces the root.' },
  BOOTFLEET_UNPACK_THROUGH_SYMLINK: { status: 422, summary: 'A layer entry would be written through a symbolic link.' },
  BOOTFLEET_UNPACK_LINK_OUTSIDE: { status: 422, summary: 'A layer hardlink points outside the tree or at nothing already in it.' },
  BOOTFLEET_UNPACK_DEVICE_REFUSED: { status: 422, summary: 'A layer holds a device node or FIFO and the setting does not allow them.' },
  BOOTFLEET_UNPACK_WHITEOUT_INVALID: { status: 422, summary: 'A layer holds a malformed whiteout (bare .wh., reserved .wh..wh. name, or one naming . or ..).' },
  BOOTFLEET_UNPACK_TOO_DEEP: { status: 422, summary: 'A layer entry path is deeper or longer than the limit.' },
  BOOTFLEET_UNPACK_TOO_LARGE: { status: 422, summary: 'A layer is larger, uncompressed, than the limit, or holds too many entries.' },
  BOOTFLEET_UNPACK_TAR_INVALID: { status: 422, summary: 'A layer is not a well-formed tar stream, or holds an unsupported entry type.' },
  BOOTFLEET_UNPACK_DIFF_ID_MISMATCH: { status: 422, summary: "A layer's uncompressed digest differs from the image config's diff_id." },
  // Campaigns (server/campaigns; issue #6)
  BOOTFLEET_CAMPAIGN_NOT_FOUND: { status: 404, summary: 'No campaign has this id.' },
  BOOTFLEET_CAMPAIGN_EXISTS: { status: 409, summary: 'A campaign with this id already exists.' },
  BOOTFLEET_CAMPAIGN_INVALID: { status: 400, summary: 'A campaign definition is inconsistent (waves, thresholds, times).' },
  BOOTFLEET_CAMPAIGN_TRANSITION_INVALID: { status: 409, summary: 'The campaign cannot make this lifecycle change from its current state.' },
  BOOTFLEET_CAMPAIGN_IMAGE_UNKNOWN: { status: 404, summary: 'The campaign image is not in the embedded registry.' },
  BOOTFLEET_CAMPAIGN_IMAGE_INVALID: { status: 400, summary: 'The campaign image is not a usable image manifest or has no version.' },
  BOOTFLEET_CAMPAIGN_NO_DEVICES: { status: 409, summary: 'The campaign selector matches no device.' },
  BOOTFLEET_CAMPAIGN_CONFLICT: { status: 409, summary: 'A targeted device is already in another running or paused campaign.' },
  // Agent daemon: the update pipeline, managed and autonomous modes (agent/pipeline, agent/managed, agent/autonomous; issue #5)
  BOOTFLEET_UPDATE_LAYERS_MISMATCH: { status: 422, summary: "The image manifest's layers differ from the layer list of the signed desired state." },
  // Field technician: `agent apply --archive` (agent/archive), the attempt counter, runtime integrity (issue #5, agent-field)
  BOOTFLEET_ARCHIVE_INVALID: { status: 422, summary: 'The archive is not a well-formed tar of an OCI image layout (or an entry type, duplicate entry or index is refused).' },
  BOOTFLEET_ARCHIVE_PATH_UNSAFE: { status: 422, summary: 'An archive entry path is not oci-layout, index.json or blobs/sha256/<hex>, or the layout holds a link.' },
  BOOTFLEET_ARCHIVE_TOO_LARGE: { status: 413, summary: 'The archive, one of its blobs, or its entry count exceeds the limit.' },
  BOOTFLEET_ARCHIVE_DIGEST_MISMATCH: { status: 422, summary: 'An archive blob does not hash to its name, or its size differs from its descriptor.' },
  BOOTFLEET_ARCHIVE_BLOB_MISSING: { status: 422, summary: 'A blob the selected image needs is not in the archive.' },
  BOOTFLEET_ARCHIVE_IMAGE_NOT_FOUND: { status: 404, summary: 'The archive holds no image of the requested name.' },
  BOOTFLEET_ARCHIVE_IMAGE_AMBIGUOUS: { status: 409, summary: 'The archive holds several images and no --name chose one.' },
  BOOTFLEET_INTEGRITY_MISMATCH: { status: 500, summary: "The booted deployment's tree differs from the digest recorded at staging (runtime integrity)." },
  BOOTFLEET_UPDATE_ATTEMPTS_EXHAUSTED: { status: 409, summary: 'The target image already failed the maximum number of attempts; it is not tried again until a newer one or an operator command.' },
  // Agent unpack, extended attributes (agent/unpack/apply-xattrs.ts; issue #4)
  BOOTFLEET_UNPACK_XATTR_FAILED: { status: 500, summary: 'An extended attribute a layer carries could not be set on the unpacked entry.' },
  // Agent field behaviour: the data directory's lock between the daemon and technician commands (agent/deploy/data-lock.ts; issue #5)
  BOOTFLEET_AGENT_BUSY: { status: 409, summary: "Another bootfleet process holds the agent data directory's lock; nothing was changed." },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface BootfleetErrorOptions {
  readonly cause?: unknown;
  /** Machine-readable facts about the failure (entry name, limit, ...). */
  readonly details?: Readonly<Record<string, unknown>>;
}

export class BootfleetError extends Error {
  override readonly name = 'BootfleetError';
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, options: BootfleetErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = ERROR_CODES[code].status;
    this.details = options.details ?? {};
  }

  /** JSON form used in reports and HTTP error bodies. */
  toJSON(): { code: ErrorCode; message: string; details: Readonly<Record<string, unknown>> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

export function isBootfleetError(value: unknown, code?: ErrorCode): value is BootfleetError {
  return value instanceof BootfleetError && (code === undefined || value.code === code);
}

/** Prefixes the message with what was being done, keeping the code (bootc's "context"). */
export function withContext<T>(context: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    throw addContext(context, error);
  }
}

export async function withContextAsync<T>(context: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw addContext(context, error);
  }
}

function addContext(context: string, error: unknown): BootfleetError {
  if (error instanceof BootfleetError) {
    return new BootfleetError(error.code, `${context}: ${error.message}`, { cause: error.cause, details: error.details });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BootfleetError('BOOTFLEET_INTERNAL', `${context}: ${message}`, { cause: error });
}
