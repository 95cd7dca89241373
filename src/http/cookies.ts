import type { Request } from 'express';
import { SLUG } from '../accounts/slug.js';

/**
 * Every value of cookie `name` in the Cookie header, in the order sent (the most specific path first);
 * no cookie-parser needed for the few cookies we read.
 */
export function readCookies(req: Request, name: string): string[] {
  const header = req.headers.cookie;
  if (!header) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/** The first value of cookie `name` (the most specific path's), or null. */
export function readCookie(req: Request, name: string): string | null {
  return readCookies(req, name)[0] ?? null;
}

/** Name of the login session cookie (on an https site `__Host-sspk.sid`: see {@link cookieSpot}). */
export const SESSION_COOKIE = 'sspk.sid';

/** A cookie's name and path, as it is set, read and cleared. */
export interface CookieSpot {
  name: string;
  path: string;
}

/**
 * Where one of the kit's cookies lives. On an https site it is a `__Host-` cookie: browsers only take
 * it Secure, with Path=/ and no Domain, so a sibling subdomain (or anyone on plain http) cannot plant
 * or overwrite it. A planted session or sign-in binding would sign the victim's browser in as the
 * attacker (cookie tossing, a login CSRF). Path=/ means one name per account where the cookie is per
 * account (`account`). On http (development) browsers refuse the prefix: the cookie keeps its plain
 * name, scoped to `path`.
 */
export function cookieSpot(secureSite: boolean, name: string, path: string, account?: string): CookieSpot {
  if (account !== undefined && !SLUG.test(account)) throw new TypeError('not an account slug');
  if (!secureSite) return { name, path };
  return { name: account === undefined ? `__Host-${name}` : `__Host-${name}.${account}`, path: '/' };
}
