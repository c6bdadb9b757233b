/**
 * The sigstore libraries, loaded on first use. They cost about 9 MiB of RSS
 * (@sigstore/verify, bundle, core, protobuf-specs: ~60 CommonJS modules), and
 * the agent daemon, which imports the protocol at start-up, needs them only
 * when the first signed message arrives (issue #5, docs/agent-daemon.md
 * "Memory"). They are CommonJS, so `require` loads them synchronously and
 * openEnvelope/signEnvelope keep their synchronous API.
 */
import { createRequire } from 'node:module';
import type * as SigstoreBundle from '@sigstore/bundle';
import type * as SigstoreCore from '@sigstore/core';
import type * as SigstoreVerify from '@sigstore/verify';

const requireModule = createRequire(import.meta.url);

let bundleModule: typeof SigstoreBundle | undefined;
let coreModule: typeof SigstoreCore | undefined;
let verifyModule: typeof SigstoreVerify | undefined;

export function sigstoreBundle(): typeof SigstoreBundle {
  bundleModule ??= requireModule('@sigstore/bundle') as typeof SigstoreBundle;
  return bundleModule;
}

export function sigstoreCore(): typeof SigstoreCore {
  coreModule ??= requireModule('@sigstore/core') as typeof SigstoreCore;
  return coreModule;
}

export function sigstoreVerify(): typeof SigstoreVerify {
  verifyModule ??= requireModule('@sigstore/verify') as typeof SigstoreVerify;
  return verifyModule;
}
