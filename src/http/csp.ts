import type { Response } from 'express';

/**
 * Lets the forms of this page lead to `url`'s origin (CSP `form-action`). Browsers apply
 * `form-action` to every redirect a form submission follows: a same-origin form whose answer
 * redirects to the IdP is blocked unless the IdP's origin is listed. Only the page that needs it
 * (the one with that form) gets the extra origin.
 */
export function allowFormRedirectTo(res: Response, url: string): void {
  const header = res.getHeader('Content-Security-Policy');
  if (typeof header !== 'string' || !URL.canParse(url)) return;
  const { origin, protocol } = new URL(url);
  if (protocol !== 'https:' && protocol !== 'http:') return;
  res.setHeader(
    'Content-Security-Policy',
    header.replace(
      /(^|;)\s*form-action ([^;]*)/,
      (_m, lead: string, sources: string) => `${lead}form-action ${sources.trim()} ${origin}`,
    ),
  );
}
