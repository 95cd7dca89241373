import { ValidateInResponseTo, type CacheProvider, type SamlConfig } from '@node-saml/node-saml';
import type { SpError } from '../errors.js';
import { NAMEID_UNSPECIFIED } from './constants.js';

/**
 * Everything the protocol layer needs to know about one SP ↔ IdP pair. Built per request from the
 * stored connection; the SP key pair comes from configuration.
 */
export interface SamlContext {
  /** Our entity ID for this account; also the only accepted Audience. */
  spEntityId: string;
  /** Our ACS URL for this account; Destination and Recipient must equal it. */
  acsUrl: string;
  /** The IdP's SAML Protocol URL (SSO endpoint, HTTP-Redirect binding). */
  ssoUrl: string;
  /** Trusted IdP signing certificates (PEM). Signatures by any other key are rejected. */
  idpCertificates: readonly string[];
  /** Expected Issuer; null until known. */
  idpEntityId: string | null;
  /** SP private key (PEM): signs AuthnRequests, decrypts encrypted assertions. */
  spPrivateKey: string;
  /** SP certificate (PEM), published in metadata. */
  spCertificate: string;
  /** Allowed clock difference, in ms. */
  clockSkewMs: number;
  /** Relaxation flag (per connection): accept SHA-1 signatures and digests. */
  allowSha1: boolean;
  /**
   * Test sign-ins only (never a login): record each failed check here and go on, so that every check
   * is reported, instead of stopping at the first. The signature must still verify for the checks
   * after it to run at all.
   */
  collect?: CheckCollector;
  /**
   * Told once per signature whose shape passed and whose cryptographic check begins (metrics: the
   * signature work an ACS spends, which junk a cheap check decides must never reach).
   */
  onSignatureCheck?: () => void;
  /** Told once per EncryptedAssertion about to be decrypted with the SP key (metrics). */
  onDecryption?: () => void;
}

/** The checks a test sign-in reports, in order. */
export type CheckName =
  | 'response'
  | 'status'
  | 'destination'
  | 'algorithms'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'recipient'
  | 'times'
  | 'inResponseTo'
  | 'nameId';

/** Where a test sign-in collects failed checks (the first failure of each check is kept). */
export interface CheckCollector {
  failures: Map<CheckName, SpError>;
}

// InResponseTo is checked by the ACS against our own store (bound to the browser and the connection),
// not by node-saml's cache. Any use of node-saml's cache would mean that assumption broke.
const refusingCache: CacheProvider = {
  saveAsync: () => Promise.reject(new Error('node-saml request cache must not be used')),
  getAsync: () => Promise.reject(new Error('node-saml request cache must not be used')),
  removeAsync: () => Promise.reject(new Error('node-saml request cache must not be used')),
};

/**
 * The single place that sets every security-relevant node-saml option. Nothing is left to a library
 * default. The checks node-saml does not make (bearer confirmation, Recipient, Destination, Issuer,
 * SubjectConfirmationData times, algorithms, document shape, InResponseTo, replay) live in
 * validate-response.ts and the ACS.
 */
/** Which signatures the message carries: each one present must verify (see validate-response.ts). */
export interface SignaturesPresent {
  response: boolean;
  assertion: boolean;
}

export function nodeSamlOptions(
  ctx: SamlContext,
  extra: { generateUniqueId?: () => string; signatures?: SignaturesPresent } = {},
): SamlConfig {
  return {
    callbackUrl: ctx.acsUrl,
    issuer: ctx.spEntityId,
    // Explicit audience: Auth0 signs every app of a tenant with one key, so the audience is what keeps
    // an assertion minted for another app (or another account here) from logging in.
    audience: ctx.spEntityId,
    idpCert: [...ctx.idpCertificates],
    entryPoint: ctx.ssoUrl,
    // A valid signature by a connection certificate must cover the assertion: Auth0 signs only the
    // Assertion by default and only the Response with `signResponse: true`, so neither is required on
    // its own. But every signature that IS present must verify: node-saml would otherwise treat a
    // broken Response signature as absent and fall back to the Assertion's. An unsigned assertion is
    // rejected before node-saml runs (validate-response.ts).
    wantAssertionsSigned: extra.signatures?.assertion ?? false,
    wantAuthnResponseSigned: extra.signatures?.response ?? false,
    acceptedClockSkewMs: ctx.clockSkewMs,
    maxAssertionAgeMs: 0,
    validateInResponseTo: ValidateInResponseTo.never,
    requestIdExpirationPeriodMs: 0,
    cacheProvider: refusingCache,
    privateKey: ctx.spPrivateKey,
    publicCert: ctx.spCertificate,
    decryptionPvk: ctx.spPrivateKey,
    signatureAlgorithm: 'sha256',
    digestAlgorithm: 'http://www.w3.org/2001/04/xmlenc#sha256',
    authnRequestBinding: 'HTTP-Redirect',
    identifierFormat: NAMEID_UNSPECIFIED,
    allowCreate: true,
    // Requesting an authentication context makes some IdPs fail logins that used MFA; we ask for none.
    disableRequestedAuthnContext: true,
    authnContext: [],
    racComparison: 'exact',
    forceAuthn: false,
    passive: false,
    skipRequestCompression: false,
    disableRequestAcsUrl: false,
    signMetadata: false,
    additionalParams: {},
    additionalAuthorizeParams: {},
    ...(extra.generateUniqueId ? { generateUniqueId: extra.generateUniqueId } : {}),
  };
}
