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

/** The domain of an e-mail address, lower-cased. */
export function emailDomain(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}
