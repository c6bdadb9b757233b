/**
 * `<data>/deployments/<id>/deployment.json`: what a deployment directory holds,
 * written at staging before the directory is published by a rename
 * (docs/agent-deployment.md, "Deployments").
 */
import { Type, type Static } from 'typebox';
import { VersionSchema } from '../messages/common.js';
import { DigestSchema } from '../oci/schemas.js';
import { compileParser } from '../validate.js';
import { DeploymentIdSchema, UnixMillisSchema } from './schema.js';

export const DEPLOYMENT_RECORD_MAX_BYTES = 16 * 1024;

export const DeploymentRecordSchema = Type.Object(
  {
    id: DeploymentIdSchema,
    manifestDigest: DigestSchema,
    version: VersionSchema,
    /** Digest of the tree under root/ (paths, types, modes, content hashes): agent/deploy/tree-digest.ts. */
    treeDigest: DigestSchema,
    stagedAtMs: UnixMillisSchema,
  },
  { additionalProperties: false },
);
export type DeploymentRecord = Static<typeof DeploymentRecordSchema>;

export const deploymentRecordParser = compileParser('deployment record', DeploymentRecordSchema, 'BOOTFLEET_DEPLOYMENT_INCOMPLETE');
