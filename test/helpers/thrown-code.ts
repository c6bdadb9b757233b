/** What a test of a parser or verifier asserts: the stable code of the error it throws, not the message. */
import { BootfleetError } from '../../protocol/index.js';

/** The code of the BootfleetError `fn` throws, or 'no error' when it returns; any other error is thrown again. */
export function thrownCode(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof BootfleetError) return error.code;
    throw error;
  }
  return 'no error';
}
