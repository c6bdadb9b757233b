/**
 * The JSON Schemas of every v1 message, as committed under protocol/schemas/
 * for implementers in other languages. `npm run schemas` writes them; a test
 * fails when the committed files drift from the TypeBox definitions.
 */
import type { TSchema } from 'typebox';
import { CommandSchema } from './messages/command.js';
import { DesiredStateSchema } from './messages/desired-state.js';
import { PresenceSchema } from './messages/presence.js';
import { ReportSchema } from './messages/report.js';

const SCHEMA_BASE = 'https://bootfleet.dev/schemas/v1/';

export const PUBLISHED_SCHEMAS: Readonly<Record<string, TSchema>> = {
  'desired-state': DesiredStateSchema,
  command: CommandSchema,
  report: ReportSchema,
  presence: PresenceSchema,
};

/** The file content for one published schema: draft 2020-12, stable key order, trailing newline. */
export function renderSchema(name: string, schema: TSchema): string {
  const document = { $schema: 'https://json-schema.org/draft/2020-12/schema', $id: `${SCHEMA_BASE}${name}.json`, title: name, ...schema };
  return `${JSON.stringify(document, null, 2)}\n`;
}
