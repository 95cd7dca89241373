/**
 * Validity-window edges (SAML Core §2.5.1.2: NotBefore inclusive, NotOnOrAfter exclusive; Profiles
 * §4.1.4.2: the bearer SubjectConfirmationData NotOnOrAfter bounds the assertion's use), with the
 * default 60 s skew. acs-rules.test.ts covers ±59/61 s around both ends; here are the exact boundary
 * milliseconds, the two windows (Conditions, SubjectConfirmationData) disagreeing, and instants that
 * are not UTC xs:dateTime.
 */
import { afterEach, beforeEach, describe, it, vi } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { createAccountWithIdp, postAcs, startSp, type TestSp } from '../support/harness.js';
import { b64, expectLoggedIn, expectRejected, mintXmlFor } from './support.js';

const SKEW = 60_000;
const T = new Date(Math.floor(Date.now() / 1000) * 1000);
const LIFETIME_S = 300;
const NOA = T.getTime() + LIFETIME_S * 1000;
const iso = (ms: number) => new Date(ms).toISOString();

describe('validity window edges (skew 60 s)', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
  });
  afterEach(async () => {
    vi.useRealTimers();
    await t.close();
  });
  const at = (ms: number) => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(new Date(ms));
  };
  const mint = (beforeSign?: (a: string) => string) =>
    b64(
      mintXmlFor(t, 'acme', { now: T, lifetimeSeconds: LIFETIME_S, ...(beforeSign ? { beforeSign } : {}) }),
    );

  it('exactly NotBefore − skew is accepted (NotBefore is inclusive)', async () => {
    at(T.getTime() - SKEW);
    await expectLoggedIn(t, await postAcs(t, 'acme', mint()));
  });

  it('1 ms earlier → SAML_NOT_YET_VALID', async () => {
    at(T.getTime() - SKEW - 1);
    await expectRejected(t, await postAcs(t, 'acme', mint()), 'SAML_NOT_YET_VALID');
  });

  it('1 ms before NotOnOrAfter + skew is accepted', async () => {
    at(NOA + SKEW - 1);
    await expectLoggedIn(t, await postAcs(t, 'acme', mint()));
  });

  it('exactly NotOnOrAfter + skew → SAML_EXPIRED (NotOnOrAfter is exclusive)', async () => {
    at(NOA + SKEW);
    await expectRejected(t, await postAcs(t, 'acme', mint()), 'SAML_EXPIRED');
  });

  const windows: Array<{ name: string; now: number; edit: (a: string) => string; code: ErrorCode }> = [
    {
      name: 'SubjectConfirmationData expired while Conditions are still valid',
      now: T.getTime() + 120_000,
      edit: (a) =>
        a.replace(/(<saml:SubjectConfirmationData NotOnOrAfter=")[^"]+/, `$1${iso(T.getTime() + 10_000)}`),
      code: 'SAML_EXPIRED',
    },
    {
      name: 'Conditions expired while SubjectConfirmationData is still valid',
      now: T.getTime() + 120_000,
      edit: (a) =>
        a.replace(
          /(<saml:Conditions NotBefore="[^"]+" NotOnOrAfter=")[^"]+/,
          `$1${iso(T.getTime() + 10_000)}`,
        ),
      code: 'SAML_EXPIRED',
    },
    {
      name: 'Conditions NotBefore in the future while SubjectConfirmationData is current',
      now: T.getTime(),
      edit: (a) => a.replace(/(<saml:Conditions NotBefore=")[^"]+/, `$1${iso(T.getTime() + 120_000)}`),
      code: 'SAML_NOT_YET_VALID',
    },
    {
      name: 'SubjectConfirmationData NotBefore in the future',
      now: T.getTime(),
      edit: (a) =>
        a.replace(
          '<saml:SubjectConfirmationData ',
          `<saml:SubjectConfirmationData NotBefore="${iso(T.getTime() + 120_000)}" `,
        ),
      code: 'SAML_NOT_YET_VALID',
    },
    // BUG (src/saml/validate-response.ts translateNodeSamlError, minor): node-saml throws first
    // ("Error parsing NotOnOrAfter…"), which maps to the generic SAML_RESPONSE_INVALID, so the
    // dedicated SAML_SUBJECT_CONFIRMATION_INVALID check below it is never reached.
    {
      name: 'SubjectConfirmationData without NotOnOrAfter (unbounded bearer use)',
      now: T.getTime(),
      edit: (a) => a.replace(/(<saml:SubjectConfirmationData) NotOnOrAfter="[^"]+"/, '$1'),
      code: 'SAML_SUBJECT_CONFIRMATION_INVALID',
    },
    {
      name: 'Conditions NotOnOrAfter with a time-zone offset instead of Z',
      now: T.getTime(),
      edit: (a) =>
        a.replace(
          /(<saml:Conditions NotBefore="[^"]+" NotOnOrAfter=")[^"]+/,
          `$1${iso(NOA).replace('Z', '+00:00')}`,
        ),
      code: 'SAML_RESPONSE_MALFORMED',
    },
  ];
  for (const { now, edit, code, name } of windows) {
    it(`signed by the IdP: ${name} → ${code}`, async () => {
      at(now);
      await expectRejected(t, await postAcs(t, 'acme', mint(edit)), code);
    });
  }
});
