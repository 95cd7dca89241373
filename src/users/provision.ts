import { SpError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import type { Account, Connection, LoginFlow, UserStore } from '../storage/types.js';
import { emailDomain, type MappedProfile } from './attributes.js';
import { effectiveRole, roleFromGroups } from './roles.js';

export { roleFromGroups } from './roles.js';

/** What a provisioning hook receives at each successful SSO login. */
export interface ProvisionInput {
  account: { id: string; slug: string };
  /** The connection the user signed in through (a SAML connection, or an OIDC one: see `protocol`). */
  connectionId: string;
  /** `saml`: `nameId` is the NameID; `oidc`: `nameId` is the provider's `sub`. */
  protocol: 'saml' | 'oidc';
  nameId: string;
  /** Mapped profile (e-mail lower-cased, groups de-duplicated). */
  profile: MappedProfile;
  /** Every attribute of the verified assertion. */
  attributes: Record<string, string[]>;
  /** Role the kit would give (admin when a group is in the account's adminGroups, else member). */
  suggestedRole: 'member' | 'admin';
}

/** What provisioning returns: the user the session belongs to. */
export interface ProvisionedUser {
  id: string;
  email: string | null;
  role: string;
  created: boolean;
}

/**
 * A host application's own provisioning. Replaces the built-in user table when given. Throw
 * `new SpError('PROVISIONING_REJECTED')` to refuse a user; any other error is a 503.
 */
export type ProvisionHook = (input: ProvisionInput) => Promise<ProvisionedUser>;

/** The account's sign-in policy for an SSO profile (e-mail domain allow-list). */
export function checkSignInPolicy(
  account: Account,
  profile: MappedProfile,
  emailMissing: Extract<ErrorCode, 'SAML_EMAIL_MISSING' | 'OIDC_EMAIL_MISSING'> = 'SAML_EMAIL_MISSING',
): void {
  if (account.settings.requireEmail && !profile.email) {
    throw new SpError(emailMissing, {
      detail:
        emailMissing === 'SAML_EMAIL_MISSING'
          ? 'no e-mail attribute and no e-mail NameID'
          : 'no verified e-mail claim',
    });
  }
  const allowed = account.settings.allowedEmailDomains;
  if (allowed.length > 0 && (!profile.email || !allowed.includes(emailDomain(profile.email)))) {
    throw new SpError('USER_EMAIL_DOMAIN_NOT_ALLOWED', { detail: `email ${profile.email ?? 'missing'}` });
  }
}

/** Applies the account policy, then provisions through the hook or the built-in store. */
export async function provisionUser(
  users: UserStore,
  account: Account,
  /** The connection signed in through: a SAML {@link Connection}, or `{ id, protocol: 'oidc' }`. */
  connection: Pick<Connection, 'id'> & { protocol?: 'saml' | 'oidc' },
  nameId: string,
  profile: MappedProfile,
  attributes: Record<string, string[]>,
  hook: ProvisionHook | undefined,
  flow: LoginFlow,
): Promise<ProvisionedUser> {
  const source = { protocol: connection.protocol ?? 'saml', connectionId: connection.id };
  checkSignInPolicy(
    account,
    profile,
    source.protocol === 'oidc' ? 'OIDC_EMAIL_MISSING' : 'SAML_EMAIL_MISSING',
  );
  const suggestedRole = roleFromGroups(profile.groups, account.settings.adminGroups);
  if (hook) {
    try {
      return await hook({
        account: { id: account.id, slug: account.slug },
        connectionId: source.connectionId,
        protocol: source.protocol,
        nameId,
        profile,
        attributes,
        suggestedRole,
      });
    } catch (err) {
      if (err instanceof SpError) throw err;
      throw new SpError('STORE_UNAVAILABLE', { cause: err, detail: 'provisioning hook failed' });
    }
  }
  const { user, created } = await users.upsertFromSso({
    accountId: account.id,
    connectionId: source.connectionId,
    protocol: source.protocol,
    nameId,
    email: profile.email,
    name: profile.name,
    groups: profile.groups,
    role: suggestedRole,
    flow,
  });
  if (user.disabled) throw new SpError('USER_IS_DISABLED', { detail: `user ${user.id} is disabled` });
  // The session gets the effective role: an admin's override wins over the groups.
  return { id: user.id, email: user.email, role: effectiveRole(user, account.settings.adminGroups), created };
}
