/**
 * One parser per v1 message, all from the schemas in this folder. Servers and
 * agents parse every message with these before reading a field.
 */
import { compileParser, parseJson } from '../validate.js';
import { CommandSchema, COMMAND_MAX_BYTES, type Command } from './command.js';
import { DesiredStateSchema, DESIRED_STATE_MAX_BYTES, type DesiredState } from './desired-state.js';
import { PresenceSchema, PRESENCE_MAX_BYTES, type Presence } from './presence.js';
import { ReportSchema, REPORT_MAX_BYTES, type Report } from './report.js';

export const desiredStateParser = compileParser('desired state', DesiredStateSchema);
export const commandParser = compileParser('command', CommandSchema);
export const reportParser = compileParser('report', ReportSchema);
export const presenceParser = compileParser('presence', PresenceSchema);

/** Parses a report exactly as it arrives from the broker. */
export function parseReport(bytes: Uint8Array | string): Report {
  return reportParser.parse(parseJson(bytes, REPORT_MAX_BYTES, 'report'));
}

export function parsePresence(bytes: Uint8Array | string): Presence {
  return presenceParser.parse(parseJson(bytes, PRESENCE_MAX_BYTES, 'presence'));
}

export function parseDesiredStatePayload(value: unknown): DesiredState {
  return desiredStateParser.parse(value);
}

export function parseCommandPayload(value: unknown): Command {
  return commandParser.parse(value);
}

export { COMMAND_MAX_BYTES, DESIRED_STATE_MAX_BYTES, PRESENCE_MAX_BYTES, REPORT_MAX_BYTES };
export * from './command.js';
export * from './common.js';
export * from './desired-state.js';
export * from './phases.js';
export * from './presence.js';
export * from './report.js';
