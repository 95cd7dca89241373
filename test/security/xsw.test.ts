/**
 * XML Signature Wrapping: XSW1–XSW8 of Somorovsky, Mayer, Schwenk, Kampmann, Jensen, "On Breaking
 * SAML: Be Whoever You Want to Be" (USENIX Security 2012), built exactly as SAML Raider builds them
 * (see XSW in ./support.ts), each against an assertion-signed (Auth0's default) and a response-signed
 * (Auth0 `signResponse: true`) input. The attacker holds a genuine response for their own account and
 * wants to become auth0|admin / admin@victim.example.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { createAccountWithIdp, postAcs, startSp, type TestSp } from '../support/harness.js';
import {
  ATTACKER,
  b64,
  edit,
  expectLoggedIn,
  expectRejected,
  mintXmlFor,
  userNameIds,
  VICTIM,
  XSW,
  type XswName,
} from './support.js';

type Signed = 'assertion' | 'response';

/**
 * What each wrapped document trips first. XSW1/2 put a second Response in the document, XSW3–6 a
 * second Assertion; XSW7/8 keep the original ID on the copy, so two elements carry the same ID.
 */
const CASES: Array<{ xsw: XswName; sign: Signed; code: ErrorCode; shape: string }> = [
  ...(['assertion', 'response'] as const).flatMap((sign) => [
    {
      xsw: 'XSW1' as const,
      sign,
      code: 'SAML_ASSERTION_COUNT' as const,
      shape: 'original Response inside the Signature of an evil Response',
    },
    {
      xsw: 'XSW2' as const,
      sign,
      code: 'SAML_ASSERTION_COUNT' as const,
      shape: 'original Response before the Signature of an evil Response',
    },
    {
      xsw: 'XSW3' as const,
      sign,
      code: 'SAML_ASSERTION_COUNT' as const,
      shape: 'evil Assertion before the signed one',
    },
    {
      xsw: 'XSW4' as const,
      sign,
      code: 'SAML_ASSERTION_COUNT' as const,
      shape: 'signed Assertion inside an evil one',
    },
    {
      xsw: 'XSW5' as const,
      sign,
      code: 'SAML_ASSERTION_COUNT' as const,
      shape: 'evil Assertion keeps the Signature, original copy at the end',
    },
    {
      xsw: 'XSW6' as const,
      sign,
      code: 'SAML_ASSERTION_COUNT' as const,
      shape: 'evil Assertion keeps the Signature, original copy inside it',
    },
    {
      xsw: 'XSW7' as const,
      sign,
      code: 'SAML_DUPLICATE_ID' as const,
      shape: 'evil copy with the same ID in an Extensions element',
    },
    {
      xsw: 'XSW8' as const,
      sign,
      code: 'SAML_DUPLICATE_ID' as const,
      shape: 'evil Assertion in place, original copy in a ds:Object',
    },
  ]),
];

describe('XML Signature Wrapping (Somorovsky et al. 2012, SAML Raider XSW1–XSW8)', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterAll(async () => {
    // Whatever happened above, the victim never got an account.
    expect(await userNameIds(t, 'acme')).not.toContain(VICTIM.nameId);
    await t.close();
  });

  it.each(['assertion', 'response'] as const)(
    'baseline: the untouched %s-signed input logs in',
    async (sign) => {
      const who = await expectLoggedIn(t, await postAcs(t, 'acme', b64(mintXmlFor(t, 'acme', { sign }))));
      expect(who.nameId).toBe(ATTACKER.nameId);
    },
  );

  for (const { xsw, sign, code, shape } of CASES) {
    it(`${xsw} on a ${sign}-signed response (${shape}) is rejected with ${code}`, async () => {
      const genuine = mintXmlFor(t, 'acme', { sign });
      const wrapped = edit(genuine, (doc) => XSW[xsw](doc));
      // The attack really carries the victim's identity and the genuine signature bytes.
      expect(wrapped).toContain(`>${VICTIM.nameId}<`);
      const sigValue = /<SignatureValue>([^<]+)<\/SignatureValue>/.exec(genuine)![1]!;
      expect(wrapped).toContain(sigValue);
      await expectRejected(t, await postAcs(t, 'acme', b64(wrapped)), code);
    });
  }
});
