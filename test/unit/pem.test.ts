import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCertificates } from '../../src/connections/pem.js';
import { isSpError, type ErrorCode } from '../../src/errors.js';
import { expiredCertPem, idpKey, rotatedIdpKey } from '../support/idp.js';

/** Calls fn and returns the SpError code it threw (fails the test if it did not throw one). */
function codeOf(fn: () => unknown): ErrorCode {
  try {
    fn();
  } catch (err) {
    if (isSpError(err)) return err.code;
    throw new Error(`threw a non-SpError: ${String(err)}`);
  }
  throw new Error('did not throw');
}

function expectCode(fn: () => unknown, code: ErrorCode): void {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isSpError(caught, code), `expected ${code}, got ${String(caught)}`).toBe(true);
}

const idpX509 = new X509Certificate(idpKey.cert);
const rotatedX509 = new X509Certificate(rotatedIdpKey.cert);
const pemBody = (pem: string) =>
  pem
    .replace(/-----BEGIN CERTIFICATE-----/, '')
    .replace(/-----END CERTIFICATE-----[\s\S]*$/, '')
    .trim();

describe('parseCertificates', () => {
  it('parses one PEM certificate', () => {
    const [cert, ...rest] = parseCertificates(idpKey.cert);
    expect(rest).toHaveLength(0);
    expect(cert!.fingerprintSha256).toBe(idpX509.fingerprint256);
    expect(cert!.subject).toBe('CN=test-tenant.auth0.com');
    expect(cert!.notBefore).toBe(new Date(idpX509.validFrom).toISOString());
    expect(cert!.notAfter).toBe(new Date(idpX509.validTo).toISOString());
    expect(new X509Certificate(cert!.pem).fingerprint256).toBe(idpX509.fingerprint256);
  });

  it('parses several PEM certificates (rotation), in order, with text around them', () => {
    const certs = parseCertificates(`current:\n${idpKey.cert}\nnext:\n${rotatedIdpKey.cert}\n`);
    expect(certs.map((c) => c.fingerprintSha256)).toEqual([
      idpX509.fingerprint256,
      rotatedX509.fingerprint256,
    ]);
  });

  it('de-duplicates the same certificate given twice', () => {
    const certs = parseCertificates(idpKey.cert + idpKey.cert + rotatedIdpKey.cert + idpKey.cert);
    expect(certs.map((c) => c.fingerprintSha256)).toEqual([
      idpX509.fingerprint256,
      rotatedX509.fingerprint256,
    ]);
  });

  it('parses a PEM certificate with Windows line endings', () => {
    const certs = parseCertificates(idpKey.cert.replace(/\n/g, '\r\n'));
    expect(certs[0]!.fingerprintSha256).toBe(idpX509.fingerprint256);
  });

  it('parses a DER certificate buffer (.cer)', () => {
    const certs = parseCertificates(Buffer.from(idpX509.raw));
    expect(certs).toHaveLength(1);
    expect(certs[0]!.fingerprintSha256).toBe(idpX509.fingerprint256);
  });

  it('parses a PEM certificate given as a buffer (.pem upload)', () => {
    const certs = parseCertificates(Buffer.from(idpKey.cert, 'utf8'));
    expect(certs[0]!.fingerprintSha256).toBe(idpX509.fingerprint256);
  });

  it('parses a bare base64 body as copied from metadata (with or without line breaks)', () => {
    const body = pemBody(idpKey.cert);
    expect(parseCertificates(body)[0]!.fingerprintSha256).toBe(idpX509.fingerprint256);
    expect(parseCertificates(body.replace(/\s+/g, ''))[0]!.fingerprintSha256).toBe(idpX509.fingerprint256);
  });

  it('refuses a PKCS#8 private key', () => {
    expectCode(() => parseCertificates(idpKey.privateKey), 'CERT_IS_PRIVATE_KEY');
  });

  it('refuses an RSA (PKCS#1) private key', () => {
    const pkcs1 = createPrivateKey(idpKey.privateKey).export({ type: 'pkcs1', format: 'pem' }).toString();
    expect(pkcs1).toContain('-----BEGIN RSA PRIVATE KEY-----');
    expectCode(() => parseCertificates(pkcs1), 'CERT_IS_PRIVATE_KEY');
  });

  it('refuses a private key pasted next to a valid certificate, and as a buffer', () => {
    expectCode(() => parseCertificates(idpKey.cert + idpKey.privateKey), 'CERT_IS_PRIVATE_KEY');
    expectCode(() => parseCertificates(Buffer.from(idpKey.privateKey)), 'CERT_IS_PRIVATE_KEY');
  });

  it('refuses a private key uploaded without PEM armour (DER file or bare base64)', () => {
    const der = createPrivateKey(idpKey.privateKey).export({ format: 'der', type: 'pkcs8' });
    expectCode(() => parseCertificates(der), 'CERT_IS_PRIVATE_KEY');
    expectCode(() => parseCertificates(der.toString('base64')), 'CERT_IS_PRIVATE_KEY');
  });

  it('does not echo the private key in the error', () => {
    let message = '';
    try {
      parseCertificates(idpKey.privateKey);
    } catch (err) {
      message = `${(err as Error).message} ${JSON.stringify(err)}`;
    }
    const keyLine = idpKey.privateKey.split('\n')[1]!;
    expect(message).not.toBe('');
    expect(message).not.toContain(keyLine);
  });

  it('refuses a public key PEM as not a certificate', () => {
    const pub = createPublicKey(idpKey.privateKey).export({ type: 'spki', format: 'pem' }).toString();
    expectCode(() => parseCertificates(pub), 'CERT_INVALID');
  });

  it('refuses garbage', () => {
    expectCode(() => parseCertificates('this is not a certificate!'), 'CERT_INVALID');
    expectCode(() => parseCertificates('hello world'), 'CERT_INVALID');
    expectCode(
      () => parseCertificates('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'),
      'CERT_INVALID',
    );
    expectCode(() => parseCertificates(Buffer.from([0x30, 0x03, 0x01, 0x02, 0x03])), 'CERT_INVALID');
  });

  it('refuses a certificate that has expired', () => {
    expectCode(() => parseCertificates(expiredCertPem), 'CERT_EXPIRED');
    // one expired certificate among valid ones still fails the whole import
    expectCode(() => parseCertificates(idpKey.cert + expiredCertPem), 'CERT_EXPIRED');
  });

  it('judges validity at the given time', () => {
    // the expired fixture was valid during 2020
    const certs = parseCertificates(expiredCertPem, new Date('2020-06-01T00:00:00Z'));
    expect(certs[0]!.subject).toBe('CN=test-tenant-expired.auth0.com');
    expect(certs[0]!.notAfter).toBe('2021-01-01T00:00:00.000Z');
  });

  it('refuses a certificate that is not valid yet at `now`', () => {
    const before = new Date(new Date(idpX509.validFrom).getTime() - 24 * 3600 * 1000);
    expectCode(() => parseCertificates(idpKey.cert, before), 'CERT_NOT_YET_VALID');
    expect(codeOf(() => parseCertificates(expiredCertPem, new Date('2019-01-01T00:00:00Z')))).toBe(
      'CERT_NOT_YET_VALID',
    );
  });

  it('reports an empty input as a missing certificate', () => {
    expectCode(() => parseCertificates(''), 'CERT_MISSING');
    expectCode(() => parseCertificates('  \n\t '), 'CERT_MISSING');
    expectCode(() => parseCertificates(Buffer.alloc(0)), 'CERT_MISSING');
  });

  it('refuses more than 10 certificates', () => {
    expectCode(() => parseCertificates(idpKey.cert.repeat(11)), 'CERT_INVALID');
  });
});
