/**
 * Self-serve admin pages: an account admin connects the IdP, reads the values to paste into Auth0 and
 * changes the account's SSO policy. Server-rendered HTML only (no client-side JavaScript): the pages work
 * under the app's CSP (`default-src 'none'; style-src 'self'; form-action 'self'`).
 */
import express, {
  Router,
  type ErrorRequestHandler,
  type Request,
  type RequestHandler,
  type Response,
} from 'express';
import multer from 'multer';
import type { BotService } from '../../bots/service.js';
import type { ConnectionService } from '../../connections/service.js';
import type { OidcConnectionService } from '../../connections/oidc-service.js';
import type { Actor } from '../../audit/trail.js';
import { SpError } from '../../errors.js';
import type { Stores } from '../../storage/types.js';
import type { SetupLinkService } from '../../accounts/setup-links.js';
import type { SsoService } from '../../sso/service.js';
import type { UserAdmin } from '../../users/admin.js';
import { verifyCsrf } from '../middleware/csrf.js';
import { localLimiters, type LimiterFactory } from '../middleware/rate-limit.js';
import { html, page } from '../views.js';
import { siteOf } from '../site.js';
import { parseBotForm, parseTokenForm } from './bots-section.js';
import {
  formStateAfter,
  parseIdpForm,
  parseMetadataForm,
  parseMetadataUrlForm,
  parseOidcForm,
  parseSettingsForm,
  parseUserForm,
  toFormError,
  type FormName,
  type FormState,
} from './forms.js';
import { renderAdminPage, savedNotice, signInPage, type Notice } from './page.js';
import { referenceBody } from './sections/audit.js';
import { verdictBody } from './sections/test-sign-in.js';
import '../session-user.js';

// Exported from here before the split; kept so importers of this module keep working.
export { parseSettingsForm } from './forms.js';

/** The admin pages (GET /admin and its form posts), for account admins on their own account. */
export function adminViewsRouter(opts: {
  connections: ConnectionService;
  /** OAuth 2.0 / OpenID Connect connections: configured with the API's schema and audit. */
  oidcConnections: OidcConnectionService;
  sso: SsoService;
  links: SetupLinkService;
  stores: Stores;
  users: UserAdmin;
  bots: BotService;
  baseUrl: string;
  perMinute: number;
  /** How the limiters keep their counters (default: in this process; with Redis: shared). */
  limiter?: LimiterFactory;
}): Router {
  const router = Router();
  /** Who the trail names for a change made on these pages. */
  const actorOf = (req: Request): Actor => {
    const user = req.session.user!;
    return { kind: 'session', userId: user.userId, label: user.email ?? user.nameId };
  };
  const limit = (opts.limiter ?? localLimiters)('admin-pages', opts.perMinute);
  // The OpenID Connect form has the most fields: the CSRF token and 9 settings.
  const form = express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 12 });
  const limits = { fileSize: 512 * 1024, files: 1, fields: 6, fieldSize: 256 * 1024, parts: 8 };
  const certUpload = multer({ storage: multer.memoryStorage(), limits }).single('certificate');
  const metadataUpload = multer({ storage: multer.memoryStorage(), limits }).single('metadata');

  /** Only an admin session passes; everyone else gets the sign-in page (before any body is parsed). */
  const requireAdmin: RequestHandler = (req, res, next) => {
    const user = req.session?.user;
    if (user?.role !== 'admin') return signInPage(req, res, user !== undefined);
    next();
  };

  /** The admin page with `status` (see renderAdminPage). */
  const render = (
    req: Request,
    res: Response,
    status: number,
    notice: Notice | null,
    formState?: FormState,
  ) => renderAdminPage(opts, req, res, status, notice, formState);

  router.get('/admin', requireAdmin, async (req, res) => {
    await render(req, res, 200, savedNotice(req.query.saved));
  });

  /**
   * A rejected form post re-renders the page with the catalogued message and the error's status. Only for
   * an admin session and form errors: rate limiting and unexpected errors go to the app's error handler.
   */
  const formErrors =
    (which: FormName): ErrorRequestHandler =>
    (err, req, res, next) => {
      const error = toFormError(err);
      if (
        !error ||
        error.code === 'RATE_LIMITED' ||
        error.status >= 500 ||
        req.session?.user?.role !== 'admin'
      ) {
        next(err);
        return;
      }
      const body = (req.body ?? {}) as Record<string, unknown>;
      const formState = formStateAfter(which, error, req.path, body);
      render(
        req,
        res,
        error.status,
        { kind: 'error', message: error.message, code: error.code },
        formState,
      ).catch(next);
    };

  router.post(
    '/admin/idp',
    limit,
    requireAdmin,
    certUpload,
    verifyCsrf,
    async (req: Request, res: Response) => {
      await opts.connections.importIdp(req.session.user!.accountSlug, parseIdpForm(req), {
        actor: actorOf(req),
        clientIp: req.ip ?? null,
      });
      res.redirect(303, `${req.baseUrl}/admin?saved=idp`);
    },
    formErrors('idp'),
  );

  router.post(
    '/admin/idp/metadata',
    limit,
    requireAdmin,
    metadataUpload,
    verifyCsrf,
    async (req: Request, res: Response) => {
      await opts.connections.importIdp(req.session.user!.accountSlug, parseMetadataForm(req), {
        actor: actorOf(req),
        clientIp: req.ip ?? null,
      });
      res.redirect(303, `${req.baseUrl}/admin?saved=metadata`);
    },
    formErrors('metadata'),
  );

  router.post(
    '/admin/idp/metadata-url',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const body = (req.body ?? {}) as Record<string, unknown>;
      await opts.connections.importIdp(req.session.user!.accountSlug, parseMetadataUrlForm(body), {
        actor: actorOf(req),
        clientIp: req.ip ?? null,
      });
      res.redirect(303, `${req.baseUrl}/admin?saved=metadata-url`);
    },
    formErrors('metadataUrl'),
  );

  // "Refresh now": a failure is recorded on the connection and shown in the re-rendered page.
  router.post(
    '/admin/idp/refresh',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      await opts.connections.refreshNow(req.session.user!.accountSlug, actorOf(req));
      res.redirect(303, `${req.baseUrl}/admin?saved=refreshed`);
    },
    formErrors('refresh'),
  );

  router.post(
    '/admin/settings',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { patch, acceptCliRecoveryOnly } = parseSettingsForm((req.body ?? {}) as Record<string, unknown>);
      await opts.connections.updateSettings(req.session.user!.accountSlug, patch, {
        acceptCliRecoveryOnly,
        actor: actorOf(req),
        clientIp: req.ip ?? null,
      });
      // SSO only ends this browser's session when it is a password one: say so on the start page, with
      // the account filled in, instead of a bare "sign in" page that offers the password form.
      const slug = req.session.user!.accountSlug;
      if (patch.ssoOnly === true && req.session.user!.via === 'password') {
        res.redirect(303, `${req.baseUrl}/?account=${slug}&notice=sso-only`);
        return;
      }
      res.redirect(303, `${req.baseUrl}/admin?saved=settings`);
    },
    formErrors('settings'),
  );

  // A user row's forms: Disable/Enable, or the role (admin, member, or automatic = no override).
  router.post(
    '/admin/users/:userId',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const account = await opts.connections.account(req.session.user!.accountSlug);
      const userId = String(req.params.userId);
      if (!/^[0-9a-f-]{36}$/.test(userId)) throw new SpError('USER_NOT_FOUND');
      await opts.users.update(
        account,
        userId,
        parseUserForm((req.body ?? {}) as Record<string, unknown>),
        actorOf(req),
        { enforceLockoutRule: true, clientIp: req.ip ?? null },
      );
      res.redirect(303, `${req.baseUrl}/admin?saved=user#users`);
    },
    formErrors('user'),
  );

  // The reference of an error page, looked up in this admin's account only.
  router.get('/admin/reference', limit, requireAdmin, async (req: Request, res: Response) => {
    const ref = typeof req.query.ref === 'string' ? req.query.ref.trim() : '';
    if (!/^ref_[0-9a-f]{16}$/.test(ref)) throw new SpError('NOT_FOUND', { detail: 'malformed reference' });
    const account = await opts.connections.account(req.session.user!.accountSlug);
    const event = await opts.stores.audit.getByReference(ref);
    const mine = event !== null && event.accountId === account.id ? event : null;
    res
      .status(mine ? 200 : 404)
      .set('Cache-Control', 'no-store')
      .type('html')
      .send(page(siteOf(res), `Reference ${ref}`, referenceBody(req.baseUrl, ref, mine)));
  });

  router.post(
    '/admin/setup-links/:id/revoke',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const account = await opts.connections.account(req.session.user!.accountSlug);
      await opts.links.revoke(account, String(req.params.id));
      if (req.session.user!.setupLinkId === String(req.params.id)) {
        // The admin revoked the link this browser signed in with: say so, rather than a bare sign-in page.
        await new Promise<void>((resolve) => req.session.destroy(() => resolve()));
        res
          .set('Cache-Control', 'no-store')
          .type('html')
          .send(
            page(
              siteOf(res),
              'Setup link revoked',
              html`<h1>Setup link revoked</h1>
                <p>The link you signed in with was revoked, so this browser is now signed out.</p>
                <p><a href="${`${req.baseUrl}/`}">Start page</a></p>`,
            ),
          );
        return;
      }
      res.redirect(303, `${req.baseUrl}/admin?saved=link-revoked`);
    },
  );

  // The OpenID Connect form: the API's schema, rules and audit (OidcConnectionService.configure).
  router.post(
    '/admin/oidc',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      await opts.oidcConnections.configure(
        req.session.user!.accountSlug,
        parseOidcForm((req.body ?? {}) as Record<string, unknown>),
        { actor: actorOf(req), clientIp: req.ip ?? null },
      );
      res.redirect(303, `${req.baseUrl}/admin?protocol=oidc&saved=oidc`);
    },
    formErrors('oidc'),
  );

  router.post(
    '/admin/oidc/delete',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      // One click must not cut every user off: the box is required in the page, and checked here too.
      if ((req.body as Record<string, unknown> | undefined)?.confirm !== 'yes') {
        throw new SpError('REQUEST_INVALID', {
          message: 'Tick “I understand” to remove the OpenID Connect connection: nothing was removed.',
          detail: 'oidc connection removal without confirmation',
        });
      }
      await opts.oidcConnections.delete(req.session.user!.accountSlug, {
        actor: actorOf(req),
        clientIp: req.ip ?? null,
      });
      res.redirect(303, `${req.baseUrl}/admin?protocol=oidc&saved=oidc-deleted`);
    },
    formErrors('oidc'),
  );

  // Test sign-in: make a one-time test link and follow it (its answer redirects on to the IdP, or to
  // the OpenID provider with `protocol=oidc`).
  router.post('/admin/tests', limit, requireAdmin, form, verifyCsrf, async (req: Request, res: Response) => {
    const protocol = (req.body as Record<string, unknown> | undefined)?.protocol === 'oidc' ? 'oidc' : 'saml';
    const test = await opts.sso.createTest(req.session.user!.accountSlug, protocol);
    res.set('Cache-Control', 'no-store').redirect(303, new URL(test.loginUrl).pathname);
  });

  // The verdict. Its details (fingerprints, entity IDs, hints) are for this account's admins; the
  // browser that ran the test for someone else only learns that it finished.
  router.get('/admin/tests/:id', limit, async (req: Request, res: Response) => {
    const user = req.session?.user;
    res.set('Cache-Control', 'no-store').type('html');
    if (user?.role !== 'admin') {
      res.send(
        page(
          siteOf(res),
          'Test sign-in',
          html`<h1>Test sign-in finished</h1>
            <p>
              Nobody was signed in. The administrator who started the test sees the result on the setup page.
            </p>`,
        ),
      );
      return;
    }
    const test = await opts.sso.getTest(user.accountSlug, String(req.params.id));
    res.send(page(siteOf(res), 'Test sign-in', verdictBody(req.baseUrl, test)));
  });

  /** The signed-in admin's account and their identity as the actor of bot changes. */
  const botContext = async (req: Request) => {
    const user = req.session.user!;
    return {
      account: await opts.connections.account(user.accountSlug),
      actor: { kind: 'user' as const, userId: user.userId },
    };
  };

  router.post(
    '/admin/bots',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { account, actor } = await botContext(req);
      await opts.bots.createBot(account, parseBotForm((req.body ?? {}) as Record<string, unknown>), actor);
      res.redirect(303, `${req.baseUrl}/admin?saved=bot#bots`);
    },
    formErrors('bots'),
  );

  router.post(
    '/admin/bots/:botId/tokens',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { account, actor } = await botContext(req);
      const botId = req.params.botId as string;
      const issued = await opts.bots.issueToken(
        account,
        botId,
        parseTokenForm((req.body ?? {}) as Record<string, unknown>),
        actor,
      );
      const bot = (await opts.bots.listBots(account)).find((b) => b.id === botId);
      // Rendered in this response, never behind a redirect: the token must not travel in a URL or be
      // kept anywhere (the page is Cache-Control: no-store).
      await render(req, res, 201, null, { issued: { ...issued, botName: bot?.name ?? botId } });
    },
    formErrors('bots'),
  );

  router.post(
    '/admin/bots/:botId/tokens/:tokenId/revoke',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { account } = await botContext(req);
      await opts.bots.revokeToken(account, req.params.botId as string, req.params.tokenId as string);
      res.redirect(303, `${req.baseUrl}/admin?saved=token-revoked#bots`);
    },
    formErrors('bots'),
  );

  router.post(
    '/admin/bots/:botId/disable',
    limit,
    requireAdmin,
    form,
    verifyCsrf,
    async (req: Request, res: Response) => {
      const { account } = await botContext(req);
      await opts.bots.disableBot(account, req.params.botId as string);
      res.redirect(303, `${req.baseUrl}/admin?saved=bot-disabled#bots`);
    },
    formErrors('bots'),
  );

  return router;
}
