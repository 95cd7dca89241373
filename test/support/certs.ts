/**
 * X.509 certificates minted at test time, for keys generated at test time: weak or unusual key types
 * (DSA, small curves, RSA-PSS, EC, Ed25519) and many distinct RSA certificates, without committing
 * more key material. A certificate is plain DER: TBSCertificate, signature algorithm, signature. They
 * are issued (signed) by the test IdP key of test/fixtures/ — nothing in the SP checks who issued an
 * IdP certificate, only its key.
 */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { idpKey, type IdpKey } from './idp.js';

function derLength(length: number): Buffer {
  if (length < 0x80) return Buffer.from([length]);
  const bytes: number[] = [];
  for (let n = length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

const sequence = (...parts: Buffer[]) => der(0x30, ...parts);
const set = (...parts: Buffer[]) => der(0x31, ...parts);

function integer(value: Buffer): Buffer {
  return der(0x02, value[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), value]) : value);
}

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [a! * 40 + b!];
  for (const arc of rest) {
    const chunk: number[] = [arc & 0x7f];
    for (let n = arc >> 7; n > 0; n >>= 7) chunk.unshift((n & 0x7f) | 0x80);
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}

function utcTime(date: Date): Buffer {
  const iso = date.toISOString(); // 2026-01-02T03:04:05.678Z → 260102030405Z
  const text =
    iso.slice(2, 4) +
    iso.slice(5, 7) +
    iso.slice(8, 10) +
    iso.slice(11, 13) +
    iso.slice(14, 16) +
    iso.slice(17, 19) +
    'Z';
  return der(0x17, Buffer.from(text, 'ascii'));
}

const commonName = (cn: string) =>
  sequence(set(sequence(oid('2.5.4.3'), der(0x0c, Buffer.from(cn, 'utf8')))));
const SHA256_WITH_RSA = sequence(oid('1.2.840.113549.1.1.11'), der(0x05));

let serial = 1;

/**
 * A PEM certificate for `publicKey`, subject `CN=<subject>`, valid from yesterday for ten years,
 * issued by the test IdP key (sha256WithRSAEncryption).
 */
export function certificateFor(publicKey: KeyObject, subject: string): string {
  const now = Date.now();
  const tbs = sequence(
    der(0xa0, integer(Buffer.from([2]))), // v3
    integer(Buffer.from([0x10, serial++ & 0xff, (now >> 8) & 0xff, now & 0xff])),
    SHA256_WITH_RSA,
    commonName('saml-sp-kit test issuer'),
    sequence(utcTime(new Date(now - 24 * 3600 * 1000)), utcTime(new Date(now + 10 * 365 * 24 * 3600 * 1000))),
    commonName(subject),
    publicKey.export({ type: 'spki', format: 'der' }),
  );
  const signature = sign('sha256', tbs, idpKey.privateKey);
  const cert = sequence(tbs, SHA256_WITH_RSA, der(0x03, Buffer.from([0]), signature));
  const body = cert
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/** Key generation options accepted by {@link generatedPair}. */
export type KeySpec =
  | { type: 'rsa'; bits: number }
  | { type: 'rsa-pss'; bits: number }
  | { type: 'dsa'; bits: number }
  | { type: 'ec'; curve: string }
  | { type: 'ed25519' };

/** A fresh key pair of `spec` with a certificate for it (private key as PKCS#8 PEM), like test/fixtures' pairs. */
export function generatedPair(spec: KeySpec, subject: string): IdpKey {
  const { privateKey, publicKey } =
    spec.type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: spec.curve })
      : spec.type === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : spec.type === 'rsa'
          ? generateKeyPairSync('rsa', { modulusLength: spec.bits })
          : spec.type === 'rsa-pss'
            ? generateKeyPairSync('rsa-pss', { modulusLength: spec.bits })
            : generateKeyPairSync('dsa', { modulusLength: spec.bits, divisorLength: 160 });
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    cert: certificateFor(publicKey, subject),
  };
}

/** What {@link productionKeys} wrote: the directory to remove, and the settings that use its keys. */
export interface ProductionKeys {
  dir: string;
  config: { nodeEnv: 'production'; spKeyFile: string; spCertFile: string; tokenSigningKeyFile: string };
}

/**
 * An SP key pair and a bot-token key of the test's own, in a new temp dir (`prefix…`): production
 * refuses the shipped dev keys, so a test that starts an SP with `nodeEnv: 'production'` needs these.
 * The caller removes `dir` when done.
 */
export function productionKeys(prefix: string): ProductionKeys {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const sp = generatedPair({ type: 'rsa', bits: 2048 }, 'sp.example.com');
  writeFileSync(join(dir, 'sp.key'), sp.privateKey);
  writeFileSync(join(dir, 'sp.crt'), sp.cert);
  const tokenKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  writeFileSync(join(dir, 'token.key'), tokenKey.export({ type: 'pkcs8', format: 'pem' }));
  return {
    dir,
    config: {
      nodeEnv: 'production',
      spKeyFile: join(dir, 'sp.key'),
      spCertFile: join(dir, 'sp.crt'),
      tokenSigningKeyFile: join(dir, 'token.key'),
    },
  };
}
