/**
 * Bounds on the free-text fields of an audit event. Most of them come, directly or not, from the
 * request (the NameID, X-Forwarded-For when the proxy is trusted, error details quoting values of the
 * posted XML): the store caps them so that no caller can turn one request into a large row.
 */
export const AUDIT_TEXT_LIMITS = Object.freeze({
  accountSlug: 64,
  subject: 256,
  clientIp: 64,
  code: 64,
  detail: 500,
  expected: 500,
  received: 500,
  hint: 1500,
});

/**
 * C0 controls and DEL become spaces: PostgreSQL refuses NUL in text, and none of them belongs in a
 * trail shown on an admin page or exported to a log pipeline.
 */
function withoutControls(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += c < 0x20 || c === 0x7f ? ' ' : s[i];
  }
  return out;
}

/**
 * `value` with control characters replaced by spaces and cut to at most `max` characters (UTF-16 code
 * units); a cut value ends with `…` so a reader knows it was cut. Null stays null.
 */
export function capAuditText(value: string, max: number): string;
export function capAuditText(value: string | null, max: number): string | null;
export function capAuditText(value: string | null, max: number): string | null {
  if (value === null) return null;
  // Cut before cleaning, so a huge value costs no more than a small one.
  const head = value.length > max ? value.slice(0, max - 1) : value;
  let out = withoutControls(head);
  if (value.length > max) {
    // Never leave half of a surrogate pair at the cut.
    if (/[\uD800-\uDBFF]$/.test(out)) out = out.slice(0, -1);
    out += '…';
  }
  return out;
}
