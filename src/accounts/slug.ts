/**
 * The account slug rule, in one place: 2 to 63 lower-case letters, digits and dashes, starting with a
 * letter or digit. It appears in URLs (`/sso/:slug/…`), so nothing else is allowed.
 */
export const SLUG = /^[a-z0-9][a-z0-9-]{1,62}$/;

/** True when `value` is a well-formed account slug. */
export function isSlug(value: unknown): value is string {
  return typeof value === 'string' && SLUG.test(value);
}
