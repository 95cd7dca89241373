/**
 * The verdict of a test sign-in: every check of the response, in the order they run, each with what
 * this SP expected, what the response carried and — for a failure — the hint naming the IdP setting.
 */
import { diagnose } from '../diagnosis/diagnose.js';
import type { HintContext } from '../diagnosis/hints.js';
import { SpError } from '../errors.js';
import type { CheckName } from '../saml/options.js';
import type { Evaluation } from '../saml/validate-response.js';
import type { Account, SignInCheck } from '../storage/types.js';
import { claimsToAttributes, emailDomain, mapAttributes, mapOidcAttributes } from '../users/attributes.js';
import { checkSignInPolicy, roleFromGroups } from '../users/provision.js';

type VerdictCheck = CheckName | 'email' | 'attributes';

/** Every check a test reports, in order, with the sentence shown for it. */
export const CHECK_LABELS: Readonly<Record<VerdictCheck, string>> = {
  response: 'The message is a well-formed SAML 2.0 Response',
  status: 'The identity provider reports success',
  destination: 'Addressed to this ACS (Destination)',
  algorithms: 'Signed with SHA-256 (signature and digest)',
  signature: 'Signed by a certificate this connection trusts',
  issuer: 'Issued by the trusted identity provider (Issuer)',
  nameId: 'Names the user (NameID)',
  recipient: 'Delivered to this ACS (Recipient)',
  times: 'Valid now (clocks and lifetime)',
  audience: 'Meant for this application (Audience)',
  inResponseTo: 'Answers this test sign-in (InResponseTo)',
  email: 'Carries the user’s e-mail address',
  attributes: 'Attributes and role',
};

const ORDER = Object.keys(CHECK_LABELS) as VerdictCheck[];

/** A failed check as the verdict reports it: what was expected and received, and what to change. */
function failedCheck(name: string, error: SpError, hints: HintContext): SignInCheck {
  const d = diagnose(error, hints);
  return {
    name,
    ok: false,
    evaluated: true,
    ...(d.expected !== null ? { expected: d.expected } : {}),
    ...(d.received !== null ? { received: d.received } : {}),
    hint: `${error.code}: ${d.hint}`,
  };
}

/** Builds the checklist; `passed` only when every check passed. */
export function buildVerdict(
  evaluation: Evaluation,
  opts: { requestId: string; account: Account; hints: HintContext },
): { checks: SignInCheck[]; passed: boolean; firstFailure: SpError | null } {
  const failures = new Map<VerdictCheck, SpError>(evaluation.failures);
  const { assertion } = evaluation;
  const received = new Map<VerdictCheck, string>();
  if (evaluation.fatal) failures.set(evaluation.fatal.name, evaluation.fatal.error);
  const stopAt = evaluation.fatal ? ORDER.indexOf(evaluation.fatal.name) : ORDER.length;

  if (assertion) {
    received.set('issuer', assertion.issuer);
    received.set('nameId', assertion.nameId);
    received.set('audience', opts.hints.spEntityId);
    if (assertion.inResponseTo !== opts.requestId && !failures.has('inResponseTo')) {
      failures.set(
        'inResponseTo',
        new SpError('SAML_IN_RESPONSE_TO_MISMATCH', {
          detail: 'the signed InResponseTo does not name this test',
          expected: opts.requestId,
          received: assertion.inResponseTo ?? '(none: an IdP-initiated response)',
        }),
      );
    }
    const profile = mapAttributes(assertion.attributes, assertion.nameId);
    if (profile.email) received.set('email', profile.email);
    const allowed = opts.account.settings.allowedEmailDomains;
    if (!profile.email && opts.account.settings.requireEmail) {
      failures.set('email', new SpError('SAML_EMAIL_MISSING'));
    } else if (allowed.length > 0 && (!profile.email || !allowed.includes(emailDomain(profile.email)))) {
      failures.set(
        'email',
        new SpError('USER_EMAIL_DOMAIN_NOT_ALLOWED', {
          received: profile.email ? emailDomain(profile.email) : '(no e-mail)',
        }),
      );
    }
    const role = roleFromGroups(profile.groups, opts.account.settings.adminGroups);
    received.set(
      'attributes',
      [
        `name ${profile.name ?? '(none)'}`,
        `groups ${profile.groups.length > 0 ? profile.groups.join(', ') : '(none)'}`,
        `role ${role}`,
      ].join('; '),
    );
  }

  let firstFailure: SpError | null = null;
  const checks = ORDER.map((name, index): SignInCheck => {
    const notEvaluated = evaluation.fatal !== null && index > stopAt;
    const error = failures.get(name);
    // No signature at all: there is no algorithm to judge, and a tick beside it would read as "signed".
    if (name === 'algorithms' && !error && evaluation.fatal?.error.code === 'SAML_SIGNATURE_MISSING') {
      return {
        name,
        ok: false,
        evaluated: false,
        hint: 'Not evaluated: the response carries no signature.',
      };
    }
    if (notEvaluated) {
      return {
        name,
        ok: false,
        evaluated: false,
        hint: 'Not evaluated: an earlier check failed, and unverified content is not judged.',
      };
    }
    if (error) {
      firstFailure ??= error;
      return failedCheck(name, error, opts.hints);
    }
    const value = received.get(name);
    return { name, ok: true, evaluated: true, ...(value !== undefined ? { received: value } : {}) };
  });
  return { checks, passed: firstFailure === null, firstFailure };
}

type OidcVerdictCheck =
  | 'provider'
  | 'state'
  | 'token'
  | 'signature'
  | 'issuer'
  | 'audience'
  | 'expiry'
  | 'nonce'
  | 'email'
  | 'userinfo'
  | 'attributes';

/** Every check an OIDC test reports, in order, with the sentence shown for it. */
export const OIDC_CHECK_LABELS: Readonly<Record<OidcVerdictCheck, string>> = {
  provider: 'The provider answered without an error',
  state: 'Answers this test sign-in (state)',
  token: 'Code exchanged at the token endpoint (client authentication, PKCE)',
  signature: 'ID token signed by a key of the provider’s JWKS',
  issuer: 'Issued by the configured issuer (iss)',
  audience: 'Meant for this client (aud)',
  expiry: 'Valid now (exp, iat)',
  nonce: 'Answers this sign-in (nonce)',
  email: 'Carries a verified e-mail address',
  userinfo: 'Userinfo names the same user (sub)',
  attributes: 'Claims, groups and role',
};

const OIDC_ORDER = Object.keys(OIDC_CHECK_LABELS) as OidcVerdictCheck[];
const ID_TOKEN_CHECKS: readonly OidcVerdictCheck[] = ['signature', 'issuer', 'audience', 'expiry', 'nonce'];

/** The check a failure of the OIDC sign-in steps belongs to. */
function oidcCheckOf(error: SpError): OidcVerdictCheck {
  switch (error.code) {
    case 'OIDC_ACCESS_DENIED':
    case 'OIDC_CALLBACK_URL_REJECTED':
    case 'OIDC_PROVIDER_ERROR':
      return 'provider';
    case 'OIDC_STATE_MISMATCH':
      return 'state';
    case 'OIDC_ID_TOKEN_SIGNATURE_INVALID':
    case 'OIDC_ID_TOKEN_INVALID':
      return 'signature';
    case 'OIDC_ID_TOKEN_ISSUER_MISMATCH':
      return 'issuer';
    case 'OIDC_ID_TOKEN_AUDIENCE_MISMATCH':
      return 'audience';
    case 'OIDC_ID_TOKEN_EXPIRED':
      return 'expiry';
    case 'OIDC_ID_TOKEN_NONCE_MISMATCH':
      return 'nonce';
    case 'OIDC_USERINFO_SUBJECT_MISMATCH':
    case 'OIDC_USERINFO_INVALID':
      return 'userinfo';
    case 'OIDC_EMAIL_NOT_VERIFIED':
    case 'OIDC_EMAIL_MISSING':
    case 'USER_EMAIL_DOMAIN_NOT_ALLOWED':
      return 'email';
    default:
      // Client authentication, the token request, an unreachable or refused endpoint.
      return /^userinfo\b/.test(error.detail ?? '') ? 'userinfo' : 'token';
  }
}

/** What an OIDC test sign-in came to (src/sso/service.ts runs the steps; this judges them). */
export interface OidcTestOutcome {
  /** The first step that failed, if any (the steps stop there, as a sign-in would). */
  error: SpError | null;
  /** The verified sign-in, when the token exchange and the ID token passed. */
  signIn: { sub: string; issuer: string; claims: Record<string, unknown> } | null;
  clientId: string;
  /** Whether the connection has a userinfo endpoint. */
  userinfo: boolean;
  /** The callback's `error` parameter (the provider refused), if any. */
  providerError: string | null;
}

/**
 * The checklist of an OIDC test. The library verifies the ID token in one step: when it refuses the
 * token, the failing check is named and the token's other checks are reported as not evaluated (never
 * as passed); the checks after a failure are not evaluated either.
 */
export function buildOidcVerdict(
  outcome: OidcTestOutcome,
  opts: { account: Account; hints: HintContext },
): { checks: SignInCheck[]; passed: boolean; firstFailure: SpError | null } {
  const received = new Map<OidcVerdictCheck, string>();
  let error = outcome.error;
  const { signIn } = outcome;
  if (signIn && !error) {
    const claims = signIn.claims;
    received.set('issuer', signIn.issuer);
    received.set('audience', outcome.clientId);
    if (typeof claims.exp === 'number') {
      received.set('expiry', `exp ${new Date(claims.exp * 1000).toISOString()}`);
    }
    received.set(
      'userinfo',
      outcome.userinfo ? `sub ${signIn.sub}` : 'no userinfo endpoint: the ID token’s claims are used',
    );
    const profile = mapOidcAttributes(claimsToAttributes(claims));
    if (profile.email) received.set('email', `${profile.email} (email_verified: true)`);
    if (claims.email !== undefined && claims.email_verified !== true) {
      error = new SpError('OIDC_EMAIL_NOT_VERIFIED', {
        received: `email_verified: ${JSON.stringify(claims.email_verified ?? null)}`,
      });
    } else {
      try {
        checkSignInPolicy(opts.account, profile, 'OIDC_EMAIL_MISSING');
      } catch (err) {
        error = err instanceof SpError ? err : new SpError('INTERNAL', { cause: err });
      }
    }
    const role = roleFromGroups(profile.groups, opts.account.settings.adminGroups);
    received.set(
      'attributes',
      [
        `sub ${signIn.sub}`,
        `name ${profile.name ?? '(none)'}`,
        `groups ${profile.groups.length > 0 ? profile.groups.join(', ') : '(none)'}`,
        `role ${role}`,
      ].join('; '),
    );
  }
  const failed = error ? oidcCheckOf(error) : null;
  const failedAt = failed === null ? OIDC_ORDER.length : OIDC_ORDER.indexOf(failed);
  const idTokenRefused = failed !== null && ID_TOKEN_CHECKS.includes(failed);
  const checks = OIDC_ORDER.map((name, index): SignInCheck => {
    if (name === failed && error) {
      return failedCheck(name, error, opts.hints);
    }
    // The state is compared before the provider's answer is read; an error answer is still an error.
    if (name === 'provider' && failed === 'state' && outcome.providerError !== null) {
      return { name, ok: false, evaluated: true, received: outcome.providerError };
    }
    if (name === 'state' && failed === 'provider') {
      return { name, ok: true, evaluated: true };
    }
    if (index > failedAt || (idTokenRefused && ID_TOKEN_CHECKS.includes(name))) {
      return {
        name,
        ok: false,
        evaluated: false,
        hint:
          idTokenRefused && ID_TOKEN_CHECKS.includes(name)
            ? 'Not reported: the ID token was refused as a whole at the check marked failed.'
            : 'Not evaluated: an earlier check failed, and unverified content is not judged.',
      };
    }
    const value = received.get(name);
    return { name, ok: true, evaluated: true, ...(value !== undefined ? { received: value } : {}) };
  });
  return { checks, passed: error === null, firstFailure: error };
}

/** The name and sentence of the check a test adds when its answer did not arrive over https. */
export const TRANSPORT_CHECK = {
  name: 'transport',
  label: 'Reached this site over https (its session cookie is Secure)',
} as const;

/**
 * A verdict with the transport check added when `error` (HTTPS_REQUIRED) says the answer arrived over
 * what looks like plain http on an https site: every real sign-in would then be refused, so the test
 * must not pass either.
 */
export function withTransport(
  verdict: { checks: SignInCheck[]; passed: boolean; firstFailure: SpError | null },
  error: SpError | null,
  hints: HintContext,
): { checks: SignInCheck[]; passed: boolean; firstFailure: SpError | null } {
  if (error === null) return verdict;
  return {
    checks: [
      ...verdict.checks,
      {
        ...failedCheck(TRANSPORT_CHECK.name, error, hints),
        expected: 'https',
        received: error.detail ?? 'http',
      },
    ],
    passed: false,
    firstFailure: verdict.firstFailure ?? error,
  };
}
