/**
 * Runtime validation at every boundary. Schemas are TypeBox (plain JSON
 * Schema, the same objects Fastify routes use); `parseWith` turns unknown
 * input into a typed value or a BOOTFLEET_MESSAGE_INVALID error that names
 * the first offending path.
 */
import type { Static, TSchema } from 'typebox';
import { Compile, type Validator } from 'typebox/compile';
import { BootfleetError, type ErrorCode } from './errors.js';

export interface Parser<S extends TSchema> {
  readonly schema: S;
  check(value: unknown): value is Static<S>;
  parse(value: unknown): Static<S>;
}

const MAX_REPORTED_ERRORS = 5;

/**
 * A parser for `schema`. The schema is compiled on first use, not here: each
 * compiled validator is generated code that stays in memory, and a process
 * uses few of the ~100 parsers protocol/ defines (the agent's memory budget,
 * docs/agent-content.md "Memory"). Every value is still checked by the same
 * compiled validator; only the moment of compiling moves.
 */
export function compileParser<S extends TSchema>(name: string, schema: S, code: ErrorCode = 'BOOTFLEET_MESSAGE_INVALID'): Parser<S> {
  let compiled: Validator | undefined;
  const validator = (): Validator => (compiled ??= Compile(schema));
  const check = (value: unknown): value is Static<S> => validator().Check(value);
  return {
    schema,
    check,
    parse(value: unknown): Static<S> {
      if (check(value)) return value;
      const problems = [...validator().Errors(value)]
        .filter((e) => e.keyword !== 'boolean')
        .slice(0, MAX_REPORTED_ERRORS)
        .map((e) => `${e.instancePath === '' ? '/' : e.instancePath} ${e.message}`);
      throw new BootfleetError(code, `invalid ${name}: ${problems.join('; ')}`, { details: { schema: name, problems } });
    },
  };
}

/** JSON.parse with a size limit and a typed error; input from the network is hostile. */
export function parseJson(text: string | Uint8Array, maxBytes: number, what: string): unknown {
  const size = typeof text === 'string' ? Buffer.byteLength(text) : text.byteLength;
  if (size > maxBytes) {
    throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', `${what} is ${size} bytes, limit ${maxBytes}`, {
      details: { size, limit: maxBytes },
    });
  }
  const source = typeof text === 'string' ? text : Buffer.from(text.buffer, text.byteOffset, text.byteLength).toString('utf8');
  try {
    return JSON.parse(source) as unknown;
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_JSON_INVALID', `${what} is not valid JSON`, { cause: error });
  }
}
