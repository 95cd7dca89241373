import type { AuditTrail } from '../audit/trail.js';
import { SpError } from '../errors.js';
import type { Account, Stores, User } from '../storage/types.js';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from './password.js';
import { SLUG } from '../accounts/slug.js';
import { cliCommand } from '../cli/command.js';

const EMAIL_SHAPE = /^[^\s@]{1,64}@[^\s@]{1,253}\.[^\s@]{2,63}$/;

/** The command an operator runs to get back in when SSO-only locks everyone out (README "Recovering access"). */
export const recoveryHint = (slug: string) => cliCommand(`sso-only ${slug} off`);

/**
 * Password sign-in for local users (the bootstrap admin). Refused once the account is SSO-only, so
 * after SSO works the local password admin can no longer be used (the seed guides' "delete the
 * default admin" demand). Wrong account, unknown e-mail, wrong password or a disabled user all give the
 * same LOGIN_FAILED after the same scrypt work, so nothing tells them apart; so does an SSO-only account.
 */
export async function passwordLogin(
  stores: Stores,
  input: { account: unknown; email: unknown; password: unknown },
): Promise<{ account: Account; user: User }> {
  const checked = await checkPassword(stores, input);
  if (checked.refusal) throw checked.refusal;
  return { account: checked.account, user: checked.user };
}

type PasswordCheck =
  | { refusal: null; account: Account; user: User }
  | { refusal: SpError; account: Account | null; user: User | null };

/** {@link passwordLogin}, with the account (when it exists) also on a refusal, for its audit trail. */
async function checkPassword(
  stores: Stores,
  input: { account: unknown; email: unknown; password: unknown },
): Promise<PasswordCheck> {
  const slug = typeof input.account === 'string' ? input.account.trim() : '';
  const email = typeof input.email === 'string' ? input.email.trim().toLowerCase() : '';
  const password = typeof input.password === 'string' ? input.password : '';
  const account = SLUG.test(slug) ? await stores.accounts.getBySlug(slug) : null;
  if (!email || !password || password.length > 1024) {
    return {
      refusal: new SpError('LOGIN_FAILED', { detail: 'e-mail or password missing or too long' }),
      account,
      user: null,
    };
  }
  const user = account ? await stores.users.findLocal(account.id, email) : null;
  const ok = await verifyPassword(password, user?.passwordHash ?? (await DUMMY_HASH_PROMISE));
  // An SSO-only account answers exactly like an unknown one, after the same work: a distinct answer
  // would tell anyone which accounts exist and which have switched password sign-in off. The way back
  // in is for operators, in the log and the README, never on a public page.
  if (account?.settings.ssoOnly) {
    const detail = `account ${slug} is SSO-only; an operator can re-enable password sign-in with: ${recoveryHint(account.slug)}`;
    return { refusal: new SpError('LOGIN_FAILED', { detail }), account, user };
  }
  // The reason is for the admin's trail only; every case answers the same LOGIN_FAILED.
  if (!account || !user || !ok || user.disabled) {
    const reason = !account
      ? 'no such account'
      : !user
        ? 'no local user with this e-mail'
        : user.disabled
          ? 'user disabled'
          : 'wrong password';
    return { refusal: new SpError('LOGIN_FAILED', { detail: reason }), account, user };
  }
  return { refusal: null, account, user };
}

/** What a password sign-in needs besides the form. */
export interface PasswordSignInContext {
  clientIp: string | null;
  /** The reference the answer carries (a refusal's error page shows it). */
  referenceId: string;
  /** Told of every sign-in decided in an account's trail (metrics, onEvent), as SSO sign-ins are. */
  onDecided?: (decision: PasswordSignInDecision) => void;
}

/** A password sign-in recorded in an account's trail. */
export interface PasswordSignInDecision {
  account: Account;
  outcome: 'success' | 'failure';
  /** `OK`, or the catalogued error code that refused it. */
  code: string;
  userId: string | null;
  /** The e-mail the user signed in with (or typed, when it looks like one). */
  subject: string | null;
  referenceId: string;
}

/**
 * A password sign-in from the form, audited: the success (after the session exists, as at the ACS) and
 * every refusal go to the account's trail when the account exists, with the same reference the answer
 * carries; for a slug that names no account they are only logged. The user's last sign-in (time and
 * flow `password`) is recorded.
 */
export async function signInWithPassword(
  stores: Stores,
  trail: AuditTrail,
  input: { account: unknown; email: unknown; password: unknown },
  ctx: PasswordSignInContext,
  establish: (account: Account, user: User) => Promise<void>,
): Promise<{ account: Account; user: User }> {
  // What was typed as the e-mail names the attempt in the trail, but only when it looks like an e-mail
  // address: people type passwords into the wrong field, and a password must never reach the trail.
  const typed = typeof input.email === 'string' ? input.email.trim().toLowerCase() : '';
  const subject = EMAIL_SHAPE.test(typed) ? typed : null;
  const checked = await checkPassword(stores, input);
  if (checked.refusal) {
    await auditPasswordRefusal(trail, checked.account, input.account, checked.refusal, {
      ...ctx,
      subject,
      userId: checked.user?.id ?? null,
    });
    throw checked.refusal;
  }
  const { account, user } = checked;
  try {
    await establish(account, user);
  } catch (err) {
    // The right password, and still no session (HTTPS_REQUIRED, the store): in the trail like any
    // refusal, so whoever looks there learns why.
    if (err instanceof SpError) {
      await auditPasswordRefusal(trail, account, input.account, err, {
        ...ctx,
        subject,
        userId: user.id,
      }).catch(() => false);
    }
    throw err;
  }
  await stores.users.recordLogin(user.id, 'password');
  await trail.record(account, {
    referenceId: ctx.referenceId,
    outcome: 'success',
    code: 'OK',
    subject: user.email,
    userId: user.id,
    clientIp: ctx.clientIp,
    detail: 'password sign-in',
  });
  ctx.onDecided?.({
    account,
    outcome: 'success',
    code: 'OK',
    userId: user.id,
    subject: user.email,
    referenceId: ctx.referenceId,
  });
  return { account, user };
}

/**
 * Records a refused password sign-in (wrong credentials, or a form refused before it was checked, e.g.
 * without its CSRF token) in the trail of the account it named, or only logs it.
 */
export async function auditPasswordRefusal(
  trail: AuditTrail,
  account: Account | null,
  slug: unknown,
  error: SpError,
  ctx: PasswordSignInContext & { subject?: string | null; userId?: string | null },
): Promise<boolean> {
  if (!account) {
    trail.logUnknown(typeof slug === 'string' ? slug : '', { ...ctx, code: error.code }, 'password sign-in');
    return false;
  }
  const recorded = await trail.record(account, {
    referenceId: ctx.referenceId,
    outcome: 'failure',
    code: error.code,
    subject: ctx.subject ?? null,
    userId: ctx.userId ?? null,
    clientIp: ctx.clientIp,
    detail: `password sign-in refused: ${error.detail ?? error.code}`,
    error,
  });
  ctx.onDecided?.({
    account,
    outcome: 'failure',
    code: error.code,
    userId: ctx.userId ?? null,
    subject: ctx.subject ?? null,
    referenceId: ctx.referenceId,
  });
  return recorded;
}

/** Sets a new password for an existing local user (the CLI's `create-admin --reset`). */
export async function resetLocalPassword(
  stores: Stores,
  input: { account: string; email: string; password: string },
): Promise<User> {
  const account = await stores.accounts.getBySlug(input.account);
  if (!account) throw new SpError('ACCOUNT_NOT_FOUND');
  if (input.password.length < 12) {
    throw new SpError('REQUEST_INVALID', { message: 'The password must have at least 12 characters.' });
  }
  const user = await stores.users.findLocal(account.id, input.email.trim().toLowerCase());
  if (!user) throw new SpError('REQUEST_INVALID', { message: 'There is no local user with this e-mail.' });
  await stores.users.setPasswordHash(user.id, await hashPassword(input.password));
  return user;
}

/** Creates a local admin (the CLI's `create-admin`). */
export async function createLocalAdmin(
  stores: Stores,
  input: { account: string; email: string; name?: string | null; password: string },
): Promise<User> {
  const account = await stores.accounts.getBySlug(input.account);
  if (!account) throw new SpError('ACCOUNT_NOT_FOUND');
  if (input.password.length < 12) {
    throw new SpError('REQUEST_INVALID', { message: 'The password must have at least 12 characters.' });
  }
  const user = await stores.users.createLocal({
    accountId: account.id,
    email: input.email.trim().toLowerCase(),
    name: input.name ?? null,
    role: 'admin',
    passwordHash: await hashPassword(input.password),
  });
  if (!user)
    throw new SpError('REQUEST_INVALID', { message: 'A local user with this e-mail already exists.' });
  return user;
}
