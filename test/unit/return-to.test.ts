import { describe, expect, it } from 'vitest';
import { safeReturnPath } from '../../src/http/return-to.js';

const BASE = 'http://localhost:3000';

function expectSameOrigin(out: string): void {
  expect(out.startsWith('/')).toBe(true);
  expect(out.startsWith('//')).toBe(false);
  expect(out).not.toMatch(/[\\\s]/);
  expect(new URL(out, BASE).origin).toBe('http://localhost:3000');
  // a browser resolving the Location against any origin stays on that origin
  expect(new URL(out, 'https://app.example').origin).toBe('https://app.example');
}

describe('safeReturnPath', () => {
  it('keeps a same-origin path with query and fragment', () => {
    expect(safeReturnPath('/a/b?x=1#h', BASE)).toBe('/a/b?x=1#h');
    expect(safeReturnPath('/', BASE)).toBe('/');
  });

  it.each([
    ['//evil.com'],
    ['///evil.com'],
    ['/\\evil.com'],
    ['\\\\evil.com'],
    ['/%2F%2Fevil.com'],
    ['/%2f%2fevil.com'],
    ['/%5Cevil.com'],
    ['/%5cevil.com'],
    ['https://evil.com'],
    ['http://localhost:3000.evil.com/'],
    ['javascript:alert(1)'],
    ['JavaScript:alert(1)'],
    ['data:text/html,<script>alert(1)</script>'],
    [' /x'],
    ['/x\n'],
    ['/x\r\nSet-Cookie: a=b'],
    ['/\tevil.com'],
    ['/%0d%0aSet-Cookie:a=b'],
    ['/%E0%A4%A'],
    ['x/y'],
    [''],
  ])('%j falls back to "/"', (value) => {
    expect(safeReturnPath(value, BASE)).toBe('/');
  });

  it.each([[undefined], [null], [42], [['/a']], [{ toString: () => '/a' }]])(
    'a non-string (%j) falls back to "/"',
    (value) => {
      expect(safeReturnPath(value, BASE)).toBe('/');
    },
  );

  it('refuses an overlong value', () => {
    expect(safeReturnPath(`/${'a'.repeat(5000)}`, BASE)).toBe('/');
  });

  it.each([['/a/../..//evil.com'], ['/.//evil.com'], ['/x/..//evil.com/path'], ['/%2E%2E//evil.com']])(
    'a path that normalises to "//host" (%j) never yields a protocol-relative URL',
    (value) => {
      const out = safeReturnPath(value, BASE);
      expectSameOrigin(out);
    },
  );

  it.each([
    ['/a/b?x=1#h'],
    ['//evil.com'],
    ['/\\evil.com'],
    ['/%2F%2Fevil.com'],
    ['/%252F%252Fevil.com'],
    ['https://evil.com'],
    ['javascript:alert(1)'],
    ['/%5Cevil.com'],
    [' /x'],
    ['/x\n'],
    ['/a/../../../etc'],
    ['/?next=//evil.com'],
    [''],
  ])('output for %j is a same-origin path', (value) => {
    expectSameOrigin(safeReturnPath(value, BASE));
  });

  it('keeps a path under a base URL with a path prefix on the same origin', () => {
    expect(safeReturnPath('/app/x', 'https://sp.example/app')).toBe('/app/x');
    expect(safeReturnPath('//evil.com', 'https://sp.example/app')).toBe('/');
  });
});
