// A test sign-in reports each failed check under its own name (evaluateResponse, buildVerdict), and
// never a check it could not judge as passed, nor a passed one as failed:
// - an answer to the test's request that arrives expired fails its times, and only its times: its
//   InResponseTo is signed and matches, so the verdict must not also claim the message was altered (a
//   Response InResponseTo that differs from the signed one is still caught);
// - an unsigned response has no algorithm to judge: no tick beside "Signed with SHA-256".
import { describe, expect, it } from 'vitest';
import { hintContext } from '../../src/diagnosis/diagnose.js';
import { evaluateResponse } from '../../src/saml/validate-response.js';
import { buildVerdict } from '../../src/sso/verdict.js';
import type { Account, Connection } from '../../src/storage/types.js';
import { fuzzContext } from '../fuzz/mutations.js';
import { mintResponse } from '../support/idp.js';

const ctx = fuzzContext('verdict');
const TWO_HOURS_AGO = new Date(Date.now() - 2 * 3600_000);

describe('a test sign-in answered too late', () => {
  it('fails the times check only; the signed InResponseTo that matches passes', async () => {
    const b64 = mintResponse({
      acsUrl: ctx.acsUrl,
      audience: ctx.spEntityId,
      inResponseTo: '_req-1',
      now: TWO_HOURS_AGO,
      lifetimeSeconds: 3600,
    });
    const evaluation = await evaluateResponse(b64, ctx);
    expect(evaluation.fatal).toBeNull();
    expect([...evaluation.failures.keys()]).toEqual(['times']);
    expect(evaluation.failures.get('times')!.code).toBe('SAML_EXPIRED');
  });

  it('still fails InResponseTo when the unsigned Response names another request', async () => {
    const xml = Buffer.from(
      mintResponse({
        acsUrl: ctx.acsUrl,
        audience: ctx.spEntityId,
        inResponseTo: '_req-1',
        now: TWO_HOURS_AGO,
        lifetimeSeconds: 3600,
      }),
      'base64',
    ).toString('utf8');
    // Only the assertion is signed (Auth0's default): the Response's own attribute is the first one.
    const altered = xml.replace('InResponseTo="_req-1"', 'InResponseTo="_req-other"');
    expect(altered).not.toBe(xml);
    const evaluation = await evaluateResponse(Buffer.from(altered).toString('base64'), ctx);
    expect([...evaluation.failures.keys()].sort()).toEqual(['inResponseTo', 'times']);
  });
});

describe('a test sign-in answered without any signature', () => {
  const account: Account = {
    id: 'acc-1',
    slug: 'verdict',
    name: 'Verdict Inc',
    createdAt: '2026-01-01T00:00:00.000Z',
    settings: {
      idpInitiated: true,
      allowedEmailDomains: [],
      allowSha1: false,
      adminGroups: [],
      ssoOnly: false,
      loginConfirmation: true,
      requireEmail: true,
    },
  };
  const connection = {
    id: 'conn-1',
    accountId: 'acc-1',
    ssoUrl: ctx.ssoUrl,
    idpEntityId: ctx.idpEntityId,
    idpEntityIdSource: 'metadata',
    certificates: [{ pem: '', fingerprintSha256: 'AA:BB', subject: 'CN=idp', notBefore: '', notAfter: '' }],
    status: 'active',
    createdAt: '',
    updatedAt: '',
    activatedAt: null,
    metadataUrl: null,
    metadataRefreshedAt: null,
    metadataCheckedAt: null,
    metadataRefreshError: null,
  } satisfies Connection;
  const verdictOf = async (sign: 'none' | 'assertion') => {
    const b64 = mintResponse({ acsUrl: ctx.acsUrl, audience: ctx.spEntityId, sign });
    const evaluation = await evaluateResponse(b64, ctx);
    const { checks } = buildVerdict(evaluation, {
      requestId: '_req-1',
      account,
      hints: hintContext('http://localhost:3000', account, connection, 60),
    });
    return new Map(checks.map((c) => [c.name, c]));
  };

  it('shows the algorithm check as not evaluated, and the signature check failed', async () => {
    const checks = await verdictOf('none');
    expect(checks.get('algorithms')).toMatchObject({ ok: false, evaluated: false });
    expect(checks.get('algorithms')!.hint).toMatch(/no signature/);
    expect(checks.get('signature')).toMatchObject({ ok: false, evaluated: true });
    expect(checks.get('signature')!.hint).toMatch(/^SAML_SIGNATURE_MISSING/);
  });

  it('a signed one passes the algorithm check (the control)', async () => {
    expect((await verdictOf('assertion')).get('algorithms')).toMatchObject({ ok: true, evaluated: true });
  });
});
