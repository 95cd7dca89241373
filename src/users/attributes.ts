const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';

/** Attribute names tried in order for each profile field (Auth0 claim URIs first, then common others). */
export const attributeNames = {
  email: [
    `${CLAIMS}/emailaddress`,
    'email',
    'mail',
    'urn:oid:0.9.2342.19200300.100.1.3',
    `${CLAIMS}/upn`,
    'upn',
  ],
  name: [`${CLAIMS}/name`, 'name', 'displayName', 'urn:oid:2.16.840.1.113730.3.1.241'],
  givenName: [`${CLAIMS}/givenname`, 'given_name', 'givenName', 'urn:oid:2.5.4.42'],
  familyName: [`${CLAIMS}/surname`, 'family_name', 'sn', 'urn:oid:2.5.4.4'],
  groups: [
    'http://schemas.xmlsoap.org/claims/Group',
    'groups',
    'memberOf',
    'http://schemas.microsoft.com/ws/2008/06/identity/claims/groups',
  ],
} as const;

/** The profile JIT provisioning stores. */
export interface MappedProfile {
  email: string | null;
  name: string | null;
  givenName: string | null;
  familyName: string | null;
  groups: string[];
}

const EMAIL = /^[^\s@<>()[\]\\,;:"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}$/;

function first(
  attrs: Record<string, string[]>,
  names: readonly string[],
  accept: (v: string) => boolean = () => true,
) {
  for (const n of names) {
    const v = attrs[n]?.find((x) => x !== '' && accept(x));
    if (v !== undefined) return v;
  }
  return null;
}

/** Maps assertion attributes to a profile. Works with Auth0's defaults with no tuning. */
export function mapAttributes(attrs: Record<string, string[]>, nameId: string): MappedProfile {
  const email =
    first(attrs, attributeNames.email, (v) => EMAIL.test(v)) ?? (EMAIL.test(nameId) ? nameId : null);
  const givenName = first(attrs, attributeNames.givenName);
  const familyName = first(attrs, attributeNames.familyName);
  const joined = [givenName, familyName].filter(Boolean).join(' ');
  const name = first(attrs, attributeNames.name) ?? (joined || null);
  const groups = new Set<string>();
  for (const n of attributeNames.groups) for (const g of attrs[n] ?? []) if (g) groups.add(g);
  return {
    email: email ? email.toLowerCase() : null,
    name: name ? name.slice(0, 200) : null,
    givenName,
    familyName,
    groups: [...groups].slice(0, 200),
  };
}

/**
 * Maps the claims of an OpenID Connect sign-in (ID token, completed by userinfo; flattened to lists of
 * strings) to the same profile as SAML attributes. The e-mail counts only when the provider says it is
 * verified (`email_verified: true`): an unverified address is whatever the user typed at sign-up. The
 * `sub` never stands in for an e-mail. Groups come from `groups` and from namespaced custom claims
 * whose name ends with `/groups` (Auth0 Actions must namespace them, e.g. `https://example.com/groups`).
 */
export function mapOidcAttributes(attrs: Record<string, string[]>): MappedProfile {
  const verified = attrs.email_verified?.[0] === 'true';
  const raw = attrs.email?.[0];
  const email = verified && raw !== undefined && EMAIL.test(raw) ? raw.toLowerCase() : null;
  const givenName = first(attrs, ['given_name']);
  const familyName = first(attrs, ['family_name']);
  const joined = [givenName, familyName].filter(Boolean).join(' ');
  const name = first(attrs, ['name', 'nickname']) ?? (joined || null);
  const groups = new Set<string>();
  for (const [claim, values] of Object.entries(attrs)) {
    if (claim === 'groups' || claim.endsWith('/groups')) for (const g of values) if (g) groups.add(g);
  }
  return {
    email,
    name: name ? name.slice(0, 200) : null,
    givenName,
    familyName,
    groups: [...groups].slice(0, 200),
  };
}

/** OIDC claims as attribute lists: strings, numbers and booleans as strings; lists of those; objects dropped. */
export function claimsToAttributes(claims: Record<string, unknown>): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [name, value] of Object.entries(claims).slice(0, 200)) {
    const list = Array.isArray(value) ? value : [value];
    const strings = list
      .filter((v) => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean')
      .slice(0, 200)
      .map((v) => String(v).slice(0, 1024));
    if (strings.length > 0) out[name.slice(0, 256)] = strings;
  }
  return out;
}

/** The domain of an e-mail address, lower-cased. */
export function emailDomain(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}
