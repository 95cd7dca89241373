import { describe, expect, it } from 'vitest';
import { cookieSpot } from '../../src/http/cookies.js';

describe('cookieSpot', () => {
  it('is a __Host- cookie at / on an https site, the plain name at its path on http', () => {
    expect(cookieSpot(true, 'sspk.sid', '/auth')).toEqual({ name: '__Host-sspk.sid', path: '/' });
    expect(cookieSpot(true, 'sspk_oidc', '/sso/acme', 'acme')).toEqual({
      name: '__Host-sspk_oidc.acme',
      path: '/',
    });
    expect(cookieSpot(false, 'sspk.sid', '/auth')).toEqual({ name: 'sspk.sid', path: '/auth' });
  });

  it('refuses to put anything but an account slug in a cookie name', () => {
    for (const bad of ['a b', 'a;b', 'a=b', 'ACME', 'a\r\nSet-Cookie: x=y', '']) {
      expect(() => cookieSpot(true, 'sspk_oidc', '/', bad)).toThrow(TypeError);
      expect(() => cookieSpot(false, 'sspk_oidc', '/', bad)).toThrow(TypeError);
    }
  });
});
