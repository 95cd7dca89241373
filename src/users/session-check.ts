import { setupLinkUsable } from '../accounts/setup-links.js';
import type { Stores } from '../storage/types.js';
import { effectiveRole } from './roles.js';

/** The part of a login session that is re-checked on every request. */
export interface SessionClaims {
  userId: string;
  accountSlug: string;
  via: 'sso' | 'password' | 'setup-link';
  /** For `via: 'sso'` through an OIDC connection. */
  protocol?: 'oidc' | undefined;
  role: string;
  loginAt: string;
  setupLinkId?: string | undefined;
}

/** Outcome of {@link revalidateSession}. */
export type SessionVerdict = { valid: true; role: string } | { valid: false; reason: string };

/**
 * Re-reads the user and the account behind a session, so that what an admin changes takes effect on
 * the next request of every session on every instance (they share the database), not when the session
 * happens to expire: a disabled user, a user whose group left `adminGroups`, a password session after
 * SSO-only was switched on, a deleted account or IdP connection. Sessions also end `absoluteTtlMs`
 * after sign-in however active they are.
 *
 * With a host provisioning hook, SSO users live in the host's tables, not ours: their sessions keep the
 * role the hook gave and are checked for everything account-wide.
 */
export async function revalidateSession(
  stores: Stores,
  claims: SessionClaims,
  opts: { absoluteTtlMs: number; nowMs: number; hookProvisioning: boolean },
): Promise<SessionVerdict> {
  const loginAt = Date.parse(claims.loginAt);
  if (!Number.isFinite(loginAt) || opts.nowMs - loginAt >= opts.absoluteTtlMs) {
    return { valid: false, reason: 'absolute session lifetime reached' };
  }
  const account = await stores.accounts.getBySlug(claims.accountSlug);
  if (!account) return { valid: false, reason: 'account no longer exists' };
  if (claims.via === 'password' && account.settings.ssoOnly) {
    return { valid: false, reason: 'password session while the account is SSO-only' };
  }
  if (claims.via === 'setup-link') {
    // An admin of this one account for as long as the link that opened the session is usable.
    const link = claims.setupLinkId ? await stores.setupLinks.get(claims.setupLinkId) : null;
    if (!link || link.accountId !== account.id || !setupLinkUsable(link, opts.nowMs)) {
      return { valid: false, reason: 'setup link revoked or expired' };
    }
    return { valid: true, role: 'admin' };
  }
  const user = await stores.users.getById(claims.userId);
  if (!user) {
    if (claims.via === 'sso' && opts.hookProvisioning) {
      const connection =
        claims.protocol === 'oidc'
          ? await stores.oidcConnections.getByAccount(account.id)
          : await stores.connections.getByAccount(account.id);
      return connection
        ? { valid: true, role: claims.role }
        : { valid: false, reason: 'IdP connection removed' };
    }
    return { valid: false, reason: 'user no longer exists' };
  }
  if (user.accountId !== account.id) return { valid: false, reason: 'user belongs to another account' };
  if (user.disabled) return { valid: false, reason: 'user disabled' };
  // The effective role: an admin's override, else (SSO) the account's current adminGroups applied to the
  // groups the IdP sent at the last sign-in, else (local) the stored role.
  const role = effectiveRole(user, account.settings.adminGroups);
  if (claims.via === 'password') return { valid: true, role };
  const connection =
    user.protocol === 'oidc'
      ? await stores.oidcConnections.getByAccount(account.id)
      : await stores.connections.getByAccount(account.id);
  if (!connection) return { valid: false, reason: 'IdP connection removed' };
  return { valid: true, role };
}
