import express, { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { SETUP_LINK_HOURS, type SetupLinkService } from '../accounts/setup-links.js';
import type { ConnectionService } from '../connections/service.js';
import { SpError } from '../errors.js';
import type { Account, Stores } from '../storage/types.js';
import { startLoginSession } from './login-session.js';
import { adminAuth, assertAccountAccess, type AdminPrincipal } from './middleware/admin-auth.js';
import { isSameOrigin } from './middleware/csrf.js';
import { newReferenceId } from './middleware/errors.js';
import { localLimiters, type LimiterFactory } from './middleware/rate-limit.js';
import { html, page } from './views.js';
import { siteOf } from './site.js';
import './session-user.js';

const createSchema = z
  .object({
    expiresInHours: z.number().int().min(SETUP_LINK_HOURS.min).max(SETUP_LINK_HOURS.max).optional(),
  })
  .strict();

/**
 * Setup links: `POST/GET/DELETE /api/accounts/:slug/setup-links` (creating one needs the operator's
 * token: a link must not be able to mint links that outlive its own revocation), and `/setup/:token`,
 * which opens an admin session for the link's account.
 */
export function setupLinksRouter(opts: {
  links: SetupLinkService;
  connections: ConnectionService;
  stores: Stores;
  adminApiToken: string | undefined;
  origin: string;
  basePath: string;
  perMinute: number;
  loginPerMinute: number;
  /** How the limiters keep their counters (default: in this process; with Redis: shared). */
  limiter?: LimiterFactory;
}): Router {
  const router = Router();
  const json = express.json({ limit: '4kb', strict: true });
  const form = express.urlencoded({ extended: false, limit: '1kb', parameterLimit: 2 });
  const anyAdmin = adminAuth(opts.adminApiToken, { origin: opts.origin });
  const tokenOnly = adminAuth(opts.adminApiToken, { tokenOnly: true, origin: opts.origin });
  const principal = (res: Response) => res.locals.admin as AdminPrincipal;
  const openLimit = (opts.limiter ?? localLimiters)('setup-link', opts.loginPerMinute);

  router.post('/api/accounts/:slug/setup-links', tokenOnly, json, async (req, res) => {
    const parsed = createSchema.safeParse(req.body ?? {});
    if (!parsed.success) {
      throw new SpError('REQUEST_INVALID', {
        message: `expiresInHours: a whole number of hours from ${SETUP_LINK_HOURS.min} to ${SETUP_LINK_HOURS.max} (default ${SETUP_LINK_HOURS.default}).`,
      });
    }
    const account = await opts.connections.account(req.params.slug as string);
    res
      .status(201)
      .set('Cache-Control', 'no-store')
      .json(await opts.links.create(account, parsed.data.expiresInHours));
  });

  router.get('/api/accounts/:slug/setup-links', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    const account = await opts.connections.account(req.params.slug as string);
    res.set('Cache-Control', 'no-store').json({ links: await opts.links.list(account) });
  });

  router.delete('/api/accounts/:slug/setup-links/:id', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    const account = await opts.connections.account(req.params.slug as string);
    await opts.links.revoke(account, String(req.params.id));
    res.status(204).end();
  });

  async function signIn(req: Request, res: Response, token: string): Promise<void> {
    const { link, account } = await opts.links.open(token);
    await startLoginSession(req, {
      userId: `setup-link:${link.id}`,
      accountSlug: account.slug,
      nameId: `setup-link:${link.id}`,
      email: null,
      role: 'admin',
      via: 'setup-link',
      setupLinkId: link.id,
    });
    await audit(account, req, `setup link ${link.id} opened an admin session`);
    res.set('Cache-Control', 'no-store').redirect(303, `${opts.basePath}/admin`);
  }

  async function audit(account: Account, req: Request, detail: string): Promise<void> {
    await opts.stores.audit.record({
      referenceId: newReferenceId(),
      at: new Date().toISOString(),
      accountId: account.id,
      accountSlug: account.slug,
      connectionId: null,
      outcome: 'success',
      code: 'OK',
      subject: null,
      userId: null,
      clientIp: req.ip ?? null,
      detail,
      expected: null,
      received: null,
      hint: null,
    });
  }

  // Opening the link signs the browser in — unless it is signed in as someone else: a link must never
  // silently replace another session (the link's holder could be pushing their own account on a
  // victim, a login CSRF), so that browser is asked first.
  router.get('/setup/:token', openLimit, async (req, res) => {
    res.set('Referrer-Policy', 'no-referrer');
    const token = String(req.params.token);
    const current = req.session?.user;
    const { link, account } = await opts.links.open(token);
    if (current && !(current.via === 'setup-link' && current.setupLinkId === link.id)) {
      res
        .set('Cache-Control', 'no-store')
        .type('html')
        .send(
          page(
            siteOf(res),
            `Set up single sign-on for ${account.name}`,
            html`<h1>Set up single sign-on for ${account.name}?</h1>
              <p>
                You are signed in as <strong>${current.email ?? current.nameId}</strong> in
                <code>${current.accountSlug}</code>. Continuing signs you out of that session and opens the
                setup pages of ${account.name}.
              </p>
              <form method="post" action="${`${opts.basePath}/setup/${token}`}">
                <button type="submit">Continue to ${account.name}</button>
              </form>
              <p><a href="${`${opts.basePath}/`}">Cancel</a></p>`,
          ),
        );
      return;
    }
    await signIn(req, res, token);
  });

  router.post('/setup/:token', openLimit, form, async (req, res) => {
    res.set('Referrer-Policy', 'no-referrer');
    if (!isSameOrigin(req, opts.origin))
      throw new SpError('CSRF_INVALID', { detail: 'cross-origin setup link post' });
    await signIn(req, res, String(req.params.token));
  });

  return router;
}
