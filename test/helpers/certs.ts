/** Throw-away X.509 material made with the openssl CLI: a CA, a broker certificate for 127.0.0.1, client certificates. */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Pem {
  readonly keyFile: string;
  readonly certFile: string;
  readonly key: Buffer;
  readonly cert: Buffer;
}

async function newKeyAndCsr(openssl: string, dir: string, name: string, cn: string): Promise<void> {
  await run(openssl, ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.csr`), '-subj', `/CN=${cn}`]);
}

async function load(dir: string, name: string): Promise<Pem> {
  const keyFile = join(dir, `${name}.key`);
  const certFile = join(dir, `${name}.crt`);
  return { keyFile, certFile, key: await readFile(keyFile), cert: await readFile(certFile) };
}

export async function makeCa(openssl: string, dir: string, name: string): Promise<Pem> {
  await run(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(dir, `${name}.key`), '-out', join(dir, `${name}.crt`), '-subj', `/CN=${name}`, '-days', '2']);
  return load(dir, name);
}

/** A certificate signed by `ca`; `extension` is one openssl x509v3 line (subjectAltName, extendedKeyUsage). */
export async function makeCert(openssl: string, dir: string, ca: Pem, name: string, cn: string, extension: string): Promise<Pem> {
  await newKeyAndCsr(openssl, dir, name, cn);
  const ext = join(dir, `${name}.ext`);
  await writeFile(ext, `${extension}\n`);
  await run(openssl, ['x509', '-req', '-in', join(dir, `${name}.csr`), '-CA', ca.certFile, '-CAkey', ca.keyFile, '-CAcreateserial', '-out', join(dir, `${name}.crt`), '-days', '2', '-extfile', ext]);
  return load(dir, name);
}

export interface FleetCerts {
  readonly ca: Pem;
  /** The broker's certificate, for 127.0.0.1. */
  readonly server: Pem;
  /** A client certificate for `deviceId` (its CN), as a device holds one for mutual TLS. */
  readonly device: Pem;
}

/** A fleet CA (`fleet-ca`), a broker certificate signed by it and one device's client certificate. */
export async function makeFleetCerts(openssl: string, dir: string, deviceId: string): Promise<FleetCerts> {
  const ca = await makeCa(openssl, dir, 'fleet-ca');
  const server = await makeCert(openssl, dir, ca, 'broker', '127.0.0.1', 'subjectAltName=IP:127.0.0.1');
  const device = await makeCert(openssl, dir, ca, 'device', deviceId, 'extendedKeyUsage=clientAuth');
  return { ca, server, device };
}
