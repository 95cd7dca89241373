import type { Response } from 'express';

/**
 * What every page of the kit needs to know about where it is served and how it looks: the path prefix
 * the router is reached under (from `baseUrl`'s path: `https://host/auth` → `/auth`, `''` at the root)
 * and the host application's branding.
 */
export interface Site {
  /** Path prefix of every link, form action, redirect and cookie path; `''` at the root. */
  readonly base: string;
  /** Shown in page titles and on the start page. */
  readonly productName: string;
  /** Stylesheets linked after the kit's own (the brand CSS route and/or the host's URL). */
  readonly stylesheets: readonly string[];
}

/** Branding of the pages (start page, sign-in, admin and error pages). */
export interface Branding {
  /** Product name in page titles and on the start page. Default `saml-sp-kit`. */
  productName?: string;
  /**
   * A stylesheet linked after the kit's own: an absolute https URL or a path on the host (`/static/sso.css`).
   * With the kit's standalone app (`createApp`), the CSP allows only same-origin stylesheets.
   */
  stylesheetUrl?: string;
  /** CSS served by the router at `<prefix>/assets/brand.css` and linked after the kit's own stylesheet. */
  css?: string;
}

/** The path prefix of `baseUrl` (`https://host/auth/` → `/auth`), the one place it is derived. */
export function basePathOf(baseUrl: string): string {
  return new URL(baseUrl).pathname.replace(/\/+$/, '');
}

/**
 * Builds the pages' site from `baseUrl` and the branding options.
 *
 * @throws TypeError when a branding option is unusable (a caller mistake, caught at construction).
 */
export function siteFor(baseUrl: string, branding: Branding = {}): Site {
  const base = basePathOf(baseUrl);
  const productName = branding.productName ?? 'saml-sp-kit';
  if (typeof productName !== 'string' || productName.trim() === '' || productName.length > 100) {
    throw new TypeError('branding.productName must be a non-empty string of at most 100 characters');
  }
  const stylesheets: string[] = [];
  if (branding.css !== undefined) {
    if (typeof branding.css !== 'string') throw new TypeError('branding.css must be a string');
    stylesheets.push(`${base}/assets/brand.css`);
  }
  if (branding.stylesheetUrl !== undefined) {
    const url = branding.stylesheetUrl;
    // Only a same-host path or an https URL: a javascript: or data: URL in a <link> is an injection.
    const ok =
      typeof url === 'string' &&
      ((url.startsWith('/') && !url.startsWith('//')) ||
        (URL.canParse(url) && new URL(url).protocol === 'https:'));
    if (!ok) throw new TypeError('branding.stylesheetUrl must be an https URL or a path starting with /');
    stylesheets.push(url);
  }
  return Object.freeze({ base, productName, stylesheets: Object.freeze(stylesheets) });
}

/** The site a page is rendered for: set on every request by the SP router (root defaults otherwise). */
export function siteOf(res: Response): Site {
  return (res.locals.site as Site | undefined) ?? DEFAULT_SITE;
}

const DEFAULT_SITE: Site = Object.freeze({ base: '', productName: 'saml-sp-kit', stylesheets: [] });
