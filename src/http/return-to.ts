/**
 * Turns an untrusted RelayState / returnTo into a path on our own origin. Anything that could leave
 * the origin (`//evil.com`, `/\evil.com`, `https://evil.com`, `javascript:`, encoded or with control
 * characters) falls back to `/`. Open redirects after login are a phishing aid.
 */
export function safeReturnPath(value: unknown, baseUrl: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) return '/';
  // Only a plain absolute path: one leading slash, no backslash, no control or whitespace characters.
  if (!value.startsWith('/') || value.startsWith('//') || /[\\\p{Cc}\s]/u.test(value)) return '/';
  let decoded = value;
  try {
    decoded = decodeURIComponent(value);
  } catch {
    return '/';
  }
  if (decoded.startsWith('//') || /[\\\p{Cc}]/u.test(decoded)) return '/';
  const base = new URL(baseUrl);
  const target = new URL(value, base);
  if (target.origin !== base.origin) return '/';
  // Dot segments are resolved only now ('/a/../..//evil.com' becomes '//evil.com'): check the result.
  const path = `${target.pathname}${target.search}${target.hash}`;
  if (path.startsWith('//') || path.includes('\\')) return '/';
  return path;
}
