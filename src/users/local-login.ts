import { SpError } from '../errors.js';
import type { Account, Stores, User } from '../storage/types.js';
import { DUMMY_HASH_PROMISE, hashPassword, verifyPassword } from './password.js';

const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** The command an operator runs to get back in when SSO-only locks everyone out (README "Recovering access"). */
export const recoveryHint = (slug: string) => `npm run cli -- sso-only ${slug} off`;

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
  const slug = typeof input.account === 'string' ? input.account.trim() : '';
  const email = typeof input.email === 'string' ? input.email.trim().toLowerCase() : '';
  const password = typeof input.password === 'string' ? input.password : '';
  if (!slug || !email || !password || password.length > 1024) throw new SpError('LOGIN_FAILED');
  const account = SLUG.test(slug) ? await stores.accounts.getBySlug(slug) : null;
  const user = account ? await stores.users.findLocal(account.id, email) : null;
  const ok = await verifyPassword(password, user?.passwordHash ?? (await DUMMY_HASH_PROMISE));
  // An SSO-only account answers exactly like an unknown one, after the same work: a distinct answer
  // would tell anyone which accounts exist and which have switched password sign-in off. The way back
  // in is for operators, in the log and the README, never on a public page.
  if (account?.settings.ssoOnly) {
    throw new SpError('LOGIN_FAILED', {
      detail: `account ${slug} is SSO-only; an operator can re-enable password sign-in with: ${recoveryHint(account.slug)}`,
    });
  }
  if (!account || !user || !ok || user.disabled)
    throw new SpError('LOGIN_FAILED', { detail: `account ${slug}` });
  return { account, user };
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
