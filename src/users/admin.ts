/**
 * What an account's admins (admin page, admin API) and the operator (command line) do to users: list
 * them with their effective role, disable and enable them, pin or clear their role. Every change is
 * audited with who made it.
 */
import { actorText, newReferenceId, type Actor, type AuditTrail } from '../audit/trail.js';
import { SpError } from '../errors.js';
import type {
  Account,
  AccountState,
  LoginFlow,
  RoleOverride,
  Stores,
  User,
  UserAdminPatch,
} from '../storage/types.js';
import { effectiveRole, lastAdminGuard, ssoAdmins, userLabel } from './roles.js';

/** A user as admins see it (never the password hash). */
export interface UserView {
  id: string;
  kind: 'sso' | 'local';
  nameId: string;
  email: string | null;
  name: string | null;
  /** The IdP groups as received at the last SSO sign-in. */
  groups: string[];
  /** The effective role (see `effectiveRole`). */
  role: 'admin' | 'member';
  roleOverride: RoleOverride | null;
  disabled: boolean;
  createdAt: string;
  lastLoginAt: string | null;
  lastLoginFlow: LoginFlow | null;
  /**
   * The connection an SSO user last signed in through; null for local users and for SSO users orphaned
   * by a connection delete (they count as able to sign in again once they have, see roles.ts).
   */
  connectionId: string | null;
  /** For an SSO user: `saml` (nameId is the NameID) or `oidc` (nameId is the provider's `sub`). */
  protocol: 'saml' | 'oidc' | null;
  /** The OIDC connection an OIDC user last signed in through (null once deleted). */
  oidcConnectionId: string | null;
}

/** The admin view of a user, with its effective role under the account's settings. */
export function userView(user: User, account: Account): UserView {
  return {
    id: user.id,
    kind: user.kind,
    nameId: user.nameId,
    email: user.email,
    name: user.name,
    groups: user.groups,
    role: effectiveRole(user, account.settings.adminGroups),
    roleOverride: user.roleOverride,
    disabled: user.disabled,
    createdAt: user.createdAt,
    lastLoginAt: user.lastLoginAt,
    lastLoginFlow: user.lastLoginFlow,
    connectionId: user.connectionId,
    protocol: user.protocol,
    oidcConnectionId: user.oidcConnectionId,
  };
}

/** How the command line names a user. */
export interface UserSelector {
  email?: string | undefined;
  nameId?: string | undefined;
  kind?: 'sso' | 'local' | undefined;
}

const overrideText = (o: RoleOverride | null): string => o ?? 'none (automatic)';

/** User administration for one deployment. */
export class UserAdmin {
  constructor(
    private readonly stores: Stores,
    /** Null only where nothing is audited (never in the app). */
    private readonly trail: AuditTrail | null,
  ) {}

  /** The account's users, oldest first, as admins see them. */
  async list(account: Account): Promise<UserView[]> {
    const users = await this.stores.users.listByAccount(account.id);
    return users.map((u) => userView(u, account));
  }

  /** The account with its connection and users, as the admin rules judge it. */
  async state(account: Account): Promise<AccountState> {
    const [connection, users] = await Promise.all([
      this.stores.connections.getByAccount(account.id),
      this.stores.users.listByAccount(account.id),
    ]);
    return { account, connection, users };
  }

  /** The admins who can sign in with SSO now (SSO-only needs one). */
  async ssoAdmins(account: Account): Promise<UserView[]> {
    return ssoAdmins(await this.state(account)).map((u) => userView(u, account));
  }

  /**
   * Disables/enables a user and/or pins or clears its role. Through the admin page and API the
   * lockout rule applies (`lastAdminGuard`: never from "an admin can sign in" to "none can"); the
   * operator's command line passes `enforceLockoutRule: false`. A disabled user's sessions end at their
   * next request (the per-request session check), on every instance.
   */
  async update(
    account: Account,
    userId: string,
    patch: UserAdminPatch,
    actor: Actor,
    opts: { enforceLockoutRule: boolean; clientIp?: string | null },
  ): Promise<UserView> {
    // Read for the trail only; the store's update is what confines the change to this account.
    const before = await this.stores.users.getById(userId);
    const after = await this.stores.users.update(
      account.id,
      userId,
      patch,
      opts.enforceLockoutRule ? lastAdminGuard : undefined,
    );
    if (!after || !before) throw new SpError('USER_NOT_FOUND');
    const by = actorText(actor);
    const events: { code: string; detail: string }[] = [];
    if (before.disabled !== after.disabled) {
      events.push(
        after.disabled
          ? { code: 'USER_DISABLED', detail: `user disabled ${by}; their sessions end at their next request` }
          : { code: 'USER_ENABLED', detail: `user enabled ${by}` },
      );
    }
    if (before.roleOverride !== after.roleOverride) {
      const groups = account.settings.adminGroups;
      events.push({
        code: 'USER_ROLE_CHANGED',
        detail: `role override ${overrideText(before.roleOverride)} -> ${overrideText(after.roleOverride)} (effective role ${effectiveRole(before, groups)} -> ${effectiveRole(after, groups)}) ${by}`,
      });
    }
    for (const e of events) {
      await this.trail?.record(account, {
        referenceId: newReferenceId(),
        outcome: 'success',
        code: e.code,
        subject: userLabel(after),
        userId: after.id,
        clientIp: opts.clientIp ?? null,
        detail: e.detail,
      });
    }
    return userView(after, account);
  }

  /**
   * The one user of the account the command line names: by e-mail (local or SSO user) or NameID,
   * optionally only of one kind. Several matches are refused with the candidates listed.
   */
  async find(account: Account, by: UserSelector): Promise<User> {
    const email = by.email?.trim().toLowerCase();
    const users = (await this.stores.users.listByAccount(account.id)).filter(
      (u) =>
        (email === undefined || u.email === email) &&
        (by.nameId === undefined || u.nameId === by.nameId) &&
        (by.kind === undefined || u.kind === by.kind),
    );
    if (users.length === 0) {
      throw new SpError('USER_NOT_FOUND', {
        message: `No user ${email ?? by.nameId ?? ''} in account ${account.slug}.`,
      });
    }
    if (users.length > 1) {
      throw new SpError('REQUEST_INVALID', {
        message: `${users.length} users match: ${users.map((u) => `${u.kind} ${u.nameId}`).join(', ')}. Add --kind sso|local or name the user with --name-id.`,
      });
    }
    return users[0]!;
  }
}
