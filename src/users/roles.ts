/**
 * Who is an administrator of an account, and who can still get in. One place for the rules that
 * provisioning, the per-request session check, the users list and the SSO-only switch share, so they
 * can never disagree about who is an admin.
 */
import { SpError } from '../errors.js';
import type { AccountState, ChangeGuard, User } from '../storage/types.js';

/** The role the account's `adminGroups` give an SSO user with these IdP groups. */
export function roleFromGroups(
  groups: readonly string[],
  adminGroups: readonly string[],
): 'admin' | 'member' {
  return groups.some((g) => adminGroups.includes(g)) ? 'admin' : 'member';
}

/**
 * The role that counts: an admin's per-user override first; else, for an SSO user, what the groups it
 * sent at its last sign-in give under the account's current `adminGroups` (so editing `adminGroups`
 * takes effect without waiting for a new sign-in); for a local user, the role it was created with.
 */
export function effectiveRole(
  user: Pick<User, 'kind' | 'role' | 'roleOverride' | 'groups'>,
  adminGroups: readonly string[],
): 'admin' | 'member' {
  if (user.roleOverride !== null) return user.roleOverride;
  return user.kind === 'sso' ? roleFromGroups(user.groups, adminGroups) : user.role;
}

/**
 * An SSO user that can sign in now: enabled, and attached to the account's current connection. Only a
 * successful sign-in through a connection attaches a user to it (`upsertFromSso`), which also activates
 * the connection: so the user has signed in with SSO, through the IdP in place now. A user orphaned by a
 * connection delete is not, until it signs in through the new connection: nobody has shown that the new
 * IdP knows it.
 */
export function canSignInWithSso(
  user: User,
  state: Pick<AccountState, 'connection' | 'oidcConnection'>,
): boolean {
  if (user.kind !== 'sso' || user.disabled) return false;
  if (user.protocol === 'oidc') {
    const oidc = state.oidcConnection ?? null;
    return oidc !== null && user.oidcConnectionId === oidc.id;
  }
  const conn = state.connection;
  return conn !== null && user.connectionId === conn.id;
}

/** A local user that can sign in now: enabled, with a password, in an account that is not SSO-only. */
export function canSignInWithPassword(user: User, state: Pick<AccountState, 'account'>): boolean {
  return (
    user.kind === 'local' && !user.disabled && user.passwordHash !== null && !state.account.settings.ssoOnly
  );
}

/** The account's admins who can sign in with SSO now (what SSO-only needs at least one of). */
export function ssoAdmins(state: AccountState): User[] {
  const groups = state.account.settings.adminGroups;
  return state.users.filter((u) => canSignInWithSso(u, state) && effectiveRole(u, groups) === 'admin');
}

/** The account's admins who can sign in now, by SSO or by password. */
export function usableAdmins(state: AccountState): User[] {
  const groups = state.account.settings.adminGroups;
  return state.users.filter(
    (u) =>
      (canSignInWithSso(u, state) || canSignInWithPassword(u, state)) && effectiveRole(u, groups) === 'admin',
  );
}

/**
 * The lockout rule: a change that leaves an account which had at least one admin able to sign in with
 * none is refused (LAST_ADMIN). It is judged on the result, whatever the change is — disabling a user,
 * an admin role taken away by an override, `adminGroups` edited, SSO-only switched on — so no sequence
 * of admin-page or API changes can lock the account out. An account with no usable admin to begin
 * with (e.g. just created, or provisioned by a host hook) is not blocked: there is nothing to lose.
 * Only the operator's command line bypasses it.
 */
export const lastAdminGuard: ChangeGuard = (before, after) => {
  if (usableAdmins(before).length > 0 && usableAdmins(after).length === 0) {
    throw new SpError('LAST_ADMIN', {
      detail: `account ${after.account.slug}: no enabled admin able to sign in would remain`,
    });
  }
};

/** How a user is named to admins: e-mail, else NameID. */
export function userLabel(user: Pick<User, 'email' | 'nameId'>): string {
  return user.email ?? user.nameId;
}
