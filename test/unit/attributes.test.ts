import { describe, expect, it } from 'vitest';
import { emailDomain, mapAttributes } from '../../src/users/attributes.js';

const CLAIMS = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
const GROUP = 'http://schemas.xmlsoap.org/claims/Group';

describe('mapAttributes', () => {
  it('maps the Auth0 SAML2 addon default claims', () => {
    const profile = mapAttributes(
      {
        [`${CLAIMS}/nameidentifier`]: ['auth0|abc'],
        [`${CLAIMS}/emailaddress`]: ['jane.doe@example.com'],
        [`${CLAIMS}/name`]: ['Jane Doe'],
        [`${CLAIMS}/givenname`]: ['Jane'],
        [`${CLAIMS}/surname`]: ['Doe'],
        [`${CLAIMS}/upn`]: ['other@example.com'],
        [GROUP]: ['admins', 'staff'],
      },
      'auth0|abc',
    );
    expect(profile).toEqual({
      email: 'jane.doe@example.com',
      name: 'Jane Doe',
      givenName: 'Jane',
      familyName: 'Doe',
      groups: ['admins', 'staff'],
    });
  });

  it('uses the upn claim as e-mail when there is no e-mail claim', () => {
    const profile = mapAttributes({ [`${CLAIMS}/upn`]: ['upn.user@corp.example'] }, 'auth0|1');
    expect(profile.email).toBe('upn.user@corp.example');
  });

  it('prefers the e-mail claim over upn', () => {
    const profile = mapAttributes(
      { [`${CLAIMS}/upn`]: ['upn@corp.example'], [`${CLAIMS}/emailaddress`]: ['mail@corp.example'] },
      'auth0|1',
    );
    expect(profile.email).toBe('mail@corp.example');
  });

  it('uses an e-mail-shaped NameID when no attribute carries an e-mail', () => {
    expect(mapAttributes({}, 'Name.Id@Example.COM').email).toBe('name.id@example.com');
    expect(mapAttributes({}, 'auth0|5f7c8ec7c33c6c004bbafe82').email).toBeNull();
  });

  it('joins given name and surname when there is no name claim', () => {
    const profile = mapAttributes(
      { [`${CLAIMS}/givenname`]: ['Ada'], [`${CLAIMS}/surname`]: ['Lovelace'] },
      'auth0|1',
    );
    expect(profile.name).toBe('Ada Lovelace');
    expect(profile.givenName).toBe('Ada');
    expect(profile.familyName).toBe('Lovelace');
    expect(mapAttributes({ [`${CLAIMS}/givenname`]: ['Ada'] }, 'x').name).toBe('Ada');
    expect(mapAttributes({}, 'x').name).toBeNull();
  });

  it('reads groups from the Group claim (and other group attributes), de-duplicated', () => {
    const profile = mapAttributes(
      { [GROUP]: ['admins', 'staff', 'admins', ''], groups: ['staff', 'ops'] },
      'auth0|1',
    );
    expect(profile.groups).toEqual(['admins', 'staff', 'ops']);
    expect(mapAttributes({}, 'x').groups).toEqual([]);
  });

  it('ignores an invalid e-mail and falls back to the next candidate', () => {
    expect(
      mapAttributes(
        { [`${CLAIMS}/emailaddress`]: ['not-an-email'], [`${CLAIMS}/upn`]: ['real@corp.example'] },
        'auth0|1',
      ).email,
    ).toBe('real@corp.example');
    expect(mapAttributes({ [`${CLAIMS}/emailaddress`]: ['jane@'] }, 'auth0|1').email).toBeNull();
    expect(mapAttributes({ email: ['a b@example.com'] }, 'auth0|1').email).toBeNull();
    expect(mapAttributes({ email: ['<x>@example.com'] }, 'auth0|1').email).toBeNull();
  });

  it('lower-cases the e-mail', () => {
    expect(mapAttributes({ [`${CLAIMS}/emailaddress`]: ['Jane.DOE@Example.COM'] }, 'x').email).toBe(
      'jane.doe@example.com',
    );
  });
});

describe('emailDomain', () => {
  it('returns the lower-cased part after the last @', () => {
    expect(emailDomain('Jane@Example.COM')).toBe('example.com');
  });
});
