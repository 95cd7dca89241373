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
import { emailDomain, mapAttributes } from '../users/attributes.js';
import { roleFromGroups } from '../users/provision.js';

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
      const d = diagnose(error, opts.hints);
      return {
        name,
        ok: false,
        evaluated: true,
        ...(d.expected !== null ? { expected: d.expected } : {}),
        ...(d.received !== null ? { received: d.received } : {}),
        hint: `${error.code}: ${d.hint}`,
      };
    }
    const value = received.get(name);
    return { name, ok: true, evaluated: true, ...(value !== undefined ? { received: value } : {}) };
  });
  return { checks, passed: firstFailure === null, firstFailure };
}
