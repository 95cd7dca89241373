// A test sign-in groups each failure under the check an admin reads (src/saml/validate-response.ts
// CHECK_OF_CODE). A SAML error code that maps nowhere is reported as "the message itself is bad", which
// would send the admin looking at the wrong setting: every code is either mapped or listed here as a
// message-level or sign-in-level failure, so a new code forces a decision.
import { describe, expect, it } from 'vitest';
import { errorCatalog, type ErrorCode } from '../../src/errors.js';
import { CHECK_OF_CODE } from '../../src/saml/validate-response.js';
import { CHECK_LABELS } from '../../src/sso/verdict.js';

/** Failures about the message as a whole: the "response" check. */
const MESSAGE_LEVEL: ErrorCode[] = [
  'SAML_RESPONSE_MISSING',
  'SAML_RESPONSE_MALFORMED',
  'SAML_DOCTYPE_FORBIDDEN',
  'SAML_XML_COMMENT_FORBIDDEN',
  'SAML_NOT_A_RESPONSE',
  'SAML_RESPONSE_TOO_COMPLEX',
  'SAML_ASSERTION_COUNT',
  'SAML_DUPLICATE_ID',
  'SAML_RESPONSE_INVALID',
];

/** Decided by the sign-in around the validation (storage, browser, account policy), not by a check. */
const SIGN_IN_LEVEL: ErrorCode[] = [
  'SAML_IN_RESPONSE_TO_UNKNOWN',
  'SAML_BROWSER_MISMATCH',
  'SAML_IDP_INITIATED_DISABLED',
  'SAML_REPLAY',
  'SAML_EMAIL_MISSING',
];

describe('CHECK_OF_CODE: every SAML failure is reported under the right check', () => {
  const samlCodes = (Object.keys(errorCatalog) as ErrorCode[]).filter((c) => c.startsWith('SAML_'));

  it('every SAML error code is mapped to a check, or listed as message- or sign-in-level', () => {
    const undecided = samlCodes.filter(
      (c) => !(c in CHECK_OF_CODE) && !MESSAGE_LEVEL.includes(c) && !SIGN_IN_LEVEL.includes(c),
    );
    expect(undecided).toEqual([]);
  });

  it('maps only to checks the verdict page labels, and never a code listed as message-level', () => {
    for (const [code, check] of Object.entries(CHECK_OF_CODE)) {
      expect({ code, labelled: check in CHECK_LABELS }).toEqual({ code, labelled: true });
      expect(MESSAGE_LEVEL).not.toContain(code);
    }
  });

  it('puts the failures an admin fixes in Auth0 under the setting they are about', () => {
    expect(CHECK_OF_CODE).toMatchObject({
      SAML_AUDIENCE_MISMATCH: 'audience',
      SAML_DESTINATION_MISMATCH: 'destination',
      SAML_RECIPIENT_MISMATCH: 'recipient',
      SAML_SIGNATURE_INVALID: 'signature',
      SAML_WEAK_ALGORITHM: 'algorithms',
      SAML_EXPIRED: 'times',
      SAML_NOT_YET_VALID: 'times',
      SAML_ISSUER_MISMATCH: 'issuer',
    });
  });
});
