/**
 * In-process baselines on one core (this process, one validation at a time): stock
 * @node-saml/node-saml as an application would use it (one `SAML` instance, configured like ours:
 * same certificate, audience, clock skew, `wantAssertionsSigned`), and our own `validateResponse`
 * (the ACS's protocol layer without HTTP, sessions or the database). Both take the same responses
 * the SP is sent.
 */
import { readFileSync } from 'node:fs';
import { SAML, ValidateInResponseTo } from '@node-saml/node-saml';
import { validateResponse } from '../src/saml/validate-response.js';
import { round } from './machine.js';

export interface InProcessRate {
  validations: number;
  /** Validations per wall-clock second. */
  perSecond: number;
  /** CPU time of this process per validation (ms): less sensitive to other work on the machine. */
  cpuMsEach: number;
  /** Wall ms per validation ÷ CPU ms per validation: 1 = this process had a core to itself. */
  wallOverCpu: number;
}

const samlResponseOf = (formBody: string) => new URLSearchParams(formBody).get('SAMLResponse')!;

async function measure(bodies: readonly string[], warmup: number, fn: (b64: string) => Promise<void>) {
  const list = bodies.map(samlResponseOf);
  for (const b of list.slice(0, warmup)) await fn(b);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (const b of list) await fn(b);
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuMsEach = (cpu.user + cpu.system) / 1000 / list.length;
  return {
    validations: list.length,
    perSecond: round(list.length / seconds, 1),
    cpuMsEach: round(cpuMsEach, 2),
    wallOverCpu: round((seconds * 1000) / list.length / cpuMsEach, 2),
  } satisfies InProcessRate;
}

export function stockNodeSaml(opts: { acsUrl: string; audience: string; idpCert: string; skewMs: number }) {
  const saml = new SAML({
    callbackUrl: opts.acsUrl,
    issuer: opts.audience,
    audience: opts.audience,
    idpCert: opts.idpCert,
    acceptedClockSkewMs: opts.skewMs,
    wantAssertionsSigned: true,
    // Auth0 signs the assertion only (its default); stock node-saml would otherwise require both.
    wantAuthnResponseSigned: false,
    // IdP-initiated: no request to answer.
    validateInResponseTo: ValidateInResponseTo.never,
  });
  return (bodies: readonly string[], warmup: number) =>
    measure(bodies, warmup, async (b64) => {
      const { profile } = await saml.validatePostResponseAsync({ SAMLResponse: b64 });
      if (!profile) throw new Error('stock node-saml returned no profile');
    });
}

export function ourValidation(opts: { acsUrl: string; audience: string; idpCert: string; skewMs: number }) {
  const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');
  const ctx = {
    spEntityId: opts.audience,
    acsUrl: opts.acsUrl,
    ssoUrl: 'https://bench-tenant.auth0.com/samlp/x',
    idpCertificates: [opts.idpCert],
    idpEntityId: null,
    // Only decrypts encrypted assertions (none here).
    spPrivateKey: read('../certs/sp-dev.key'),
    spCertificate: read('../certs/sp-dev.crt'),
    clockSkewMs: opts.skewMs,
    allowSha1: false,
  };
  return (bodies: readonly string[], warmup: number) =>
    measure(bodies, warmup, async (b64) => {
      await validateResponse(b64, ctx);
    });
}
