import express, { Router, type Request, type RequestHandler } from 'express';
import multer from 'multer';
import { z } from 'zod';
import { parseSettingsChange, SETTINGS_FIELDS } from '../../accounts/settings.js';
import { isAuditCode, type Actor } from '../../audit/trail.js';
import type { Actor as BotActor, BotService } from '../../bots/service.js';
import type { ConnectionService, IdpImport } from '../../connections/service.js';
import type { OidcConnectionService } from '../../connections/oidc-service.js';
import { SpError } from '../../errors.js';
import type { SsoService } from '../../sso/service.js';
import type { AuditQuery, Stores } from '../../storage/types.js';
import type { UserAdmin } from '../../users/admin.js';
import { adminAuth, assertAccountAccess, type AdminPrincipal } from '../middleware/admin-auth.js';
import { localLimiters, type LimiterFactory } from '../middleware/rate-limit.js';
import { fieldMessage } from '../validation.js';

/** `PATCH /api/accounts/:slug/users/:userId`: what an admin may change on a user. */
const userPatchSchema = z
  .object({
    disabled: z.boolean(),
    roleOverride: z.enum(['admin', 'member']).nullable(),
  })
  .partial()
  .strict()
  .refine((p) => p.disabled !== undefined || p.roleOverride !== undefined, {
    message: 'send "disabled" (true or false) and/or "roleOverride" ("admin", "member" or null)',
  });
const USER_PATCH_FIELDS = ['disabled', 'roleOverride'];
const USER_ID = /^[0-9a-f-]{36}$/;

/** Who the trail names for a change made through the API. */
function actorOf(principal: AdminPrincipal): Actor {
  if (principal.kind === 'token') return { kind: 'operator-token' };
  // Bots never reach the routes that change settings or users (humans only); named for completeness.
  if (principal.kind === 'bot')
    return { kind: 'session', userId: `bot:${principal.bot.botId}`, label: `bot ${principal.bot.botName}` };
  return { kind: 'session', userId: principal.userId, label: principal.label };
}

/**
 * `GET /api/accounts/:slug/audit?outcome=&code=&limit=`: filters let an admin find the real events of
 * an account under a flood of junk failures. Anything but one valid value per filter is refused.
 */
const auditQuerySchema = z.object({
  limit: z
    .string()
    .regex(/^\d{1,3}$/)
    .transform(Number)
    .pipe(z.number().int().min(1).max(500))
    .default(50),
  outcome: z.enum(['success', 'failure']).optional(),
  code: z.string().refine(isAuditCode).optional(),
});

const manualSchema = z
  .object({
    certificate: z.string().max(256 * 1024),
    ssoUrl: z.string(),
    idpEntityId: z.string().nullable().optional(),
  })
  .strict();
const metadataSchema = z.object({ metadataXml: z.string().max(512 * 1024) }).strict();
/** `metadataUrl` (as the issue names it) or `idpMetadataUrl` (as the connection JSON shows it). */
const metadataUrlSchema = z.union([
  z.object({ metadataUrl: z.string().max(4096) }).strict(),
  z.object({ idpMetadataUrl: z.string().max(4096) }).strict(),
]);

function parseImport(req: Request): IdpImport {
  const files = (req.files ?? {}) as Record<string, Express.Multer.File[] | undefined>;
  const body = (req.body ?? {}) as Record<string, unknown>;
  if (req.is('multipart/form-data')) {
    const meta = files.metadata?.[0];
    if (meta) return { kind: 'metadata', metadataXml: meta.buffer.toString('utf8') };
    if (typeof body.metadataUrl === 'string' && body.metadataUrl.trim() !== '') {
      return { kind: 'metadataUrl', metadataUrl: body.metadataUrl };
    }
    const cert = files.certificate?.[0];
    if (!cert && typeof body.certificate !== 'string') throw new SpError('CERT_MISSING');
    return {
      kind: 'manual',
      certificate: cert ? cert.buffer : (body.certificate as string),
      ssoUrl: typeof body.ssoUrl === 'string' ? body.ssoUrl : '',
      idpEntityId: typeof body.idpEntityId === 'string' ? body.idpEntityId : null,
    };
  }
  if ('metadataXml' in body) {
    const parsed = metadataSchema.safeParse(body);
    if (!parsed.success)
      throw new SpError('REQUEST_INVALID', {
        message: 'Send { "metadataXml": "<EntityDescriptor …>" } alone.',
      });
    return { kind: 'metadata', metadataXml: parsed.data.metadataXml };
  }
  if ('metadataUrl' in body || 'idpMetadataUrl' in body) {
    const parsed = metadataUrlSchema.safeParse(body);
    if (!parsed.success)
      throw new SpError('REQUEST_INVALID', {
        message: 'Send { "metadataUrl": "https://…" } alone.',
      });
    const data = parsed.data;
    return {
      kind: 'metadataUrl',
      metadataUrl: 'metadataUrl' in data ? data.metadataUrl : data.idpMetadataUrl,
    };
  }
  if (!('certificate' in body) || body.certificate === '') throw new SpError('CERT_MISSING');
  const parsed = manualSchema.safeParse(body);
  if (!parsed.success) {
    throw new SpError('REQUEST_INVALID', {
      message:
        'Send { "certificate": "<PEM>", "ssoUrl": "https://…", "idpEntityId"?: "…" }, { "metadataXml": "…" } or { "metadataUrl": "https://…" }.',
      detail: parsed.error.message,
    });
  }
  return { kind: 'manual', ...parsed.data };
}

const requireJsonOrMultipart: RequestHandler = (req, _res, next) => {
  if (!req.is(['application/json', 'multipart/form-data']))
    return next(new SpError('UNSUPPORTED_MEDIA_TYPE'));
  next();
};

/** The admin JSON API. */
export function adminApiRouter(opts: {
  connections: ConnectionService;
  oidcConnections: OidcConnectionService;
  sso: SsoService;
  stores: Stores;
  users: UserAdmin;
  bots: BotService;
  adminApiToken: string | undefined;
  perMinute: number;
  /** How the limiters keep their counters (default: in this process; with Redis: shared). */
  limiter?: LimiterFactory;
  /** This deployment's origin: cookie-authorised changes must come from it. */
  origin: string;
}): Router {
  const router = Router();
  // Limited before authentication, so token guessing is throttled too.
  router.use(['/api/accounts', '/api/audit'], (opts.limiter ?? localLimiters)('admin-api', opts.perMinute));
  router.get('/.well-known/jwks.json', (_req, res) => {
    // Public keys only (built member by member in loadTokenKeys); verify-only keys included, so a
    // verifier elsewhere accepts the same tokens as every instance here.
    res.set('Cache-Control', 'public, max-age=300').json(opts.bots.jwks());
  });
  const json = express.json({ limit: '1mb', strict: true });
  const upload = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: 512 * 1024, files: 2, fields: 10, fieldSize: 256 * 1024, parts: 12 },
  }).fields([
    { name: 'certificate', maxCount: 1 },
    { name: 'metadata', maxCount: 1 },
  ]);
  const auth = { origin: opts.origin, bots: opts.bots };
  const anyAdmin = adminAuth(opts.adminApiToken, auth);
  const tokenOnly = adminAuth(opts.adminApiToken, { ...auth, tokenOnly: true });
  const humansOnly = adminAuth(opts.adminApiToken, { ...auth, humansOnly: true });
  const principal = (res: { locals: Record<string, unknown> }) => res.locals.admin as AdminPrincipal;
  /** The account of `:slug`, once the caller may act on it, and who the caller is. */
  const accountFor = async (req: Request, res: { locals: Record<string, unknown> }) => {
    const who = principal(res);
    assertAccountAccess(req, who);
    const actor: BotActor =
      who.kind === 'session' ? { kind: 'user', userId: who.userId } : { kind: 'operator' };
    return { account: await opts.connections.account(req.params.slug as string), actor };
  };

  router.post('/api/accounts', tokenOnly, json, async (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    res.status(201).json(await opts.connections.createAccount({ slug: body.slug, name: body.name }));
  });

  router.get('/api/accounts/:slug', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    res.json(await opts.connections.getAccount(req.params.slug as string));
  });

  router.patch('/api/accounts/:slug', anyAdmin, json, async (req, res) => {
    assertAccountAccess(req, principal(res));
    const { patch, acceptCliRecoveryOnly } = parseSettingsChange(req.body, (error) =>
      fieldMessage(error, SETTINGS_FIELDS),
    );
    res.json(
      await opts.connections.updateSettings(req.params.slug as string, patch, {
        acceptCliRecoveryOnly,
        actor: actorOf(principal(res)),
        clientIp: req.ip ?? null,
      }),
    );
  });

  router.put(
    '/api/accounts/:slug/saml',
    humansOnly,
    requireJsonOrMultipart,
    json,
    upload,
    async (req, res) => {
      assertAccountAccess(req, principal(res));
      res.json(
        await opts.connections.importIdp(req.params.slug as string, parseImport(req), {
          actor: actorOf(principal(res)),
          clientIp: req.ip ?? null,
        }),
      );
    },
  );

  router.get('/api/accounts/:slug/saml', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    res.json(await opts.connections.getConnection(req.params.slug as string));
  });

  router.delete('/api/accounts/:slug/saml', humansOnly, async (req, res) => {
    assertAccountAccess(req, principal(res));
    await opts.connections.deleteConnection(req.params.slug as string, {
      actor: actorOf(principal(res)),
      clientIp: req.ip ?? null,
    });
    res.status(204).end();
  });

  // Fetch the IdP metadata from the connection's metadata URL now (what the schedule does).
  router.post('/api/accounts/:slug/saml/refresh', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    res
      .set('Cache-Control', 'no-store')
      .json(await opts.connections.refreshNow(req.params.slug as string, actorOf(principal(res))));
  });

  // OAuth 2.0 / OpenID Connect connection (beside the SAML one). The client secret goes in, never out.
  router.put('/api/accounts/:slug/oidc', humansOnly, json, async (req, res) => {
    assertAccountAccess(req, principal(res));
    if (!req.is('application/json')) throw new SpError('UNSUPPORTED_MEDIA_TYPE');
    res.set('Cache-Control', 'no-store').json(
      await opts.oidcConnections.configure(req.params.slug as string, req.body ?? {}, {
        actor: actorOf(principal(res)),
        clientIp: req.ip ?? null,
      }),
    );
  });

  router.get('/api/accounts/:slug/oidc', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    res.set('Cache-Control', 'no-store').json(await opts.oidcConnections.get(req.params.slug as string));
  });

  router.delete('/api/accounts/:slug/oidc', humansOnly, async (req, res) => {
    assertAccountAccess(req, principal(res));
    await opts.oidcConnections.delete(req.params.slug as string, {
      actor: actorOf(principal(res)),
      clientIp: req.ip ?? null,
    });
    res.status(204).end();
  });

  // Test sign-ins, per protocol: the same tests (one store, one link route, one verdict page), each
  // route reading only its protocol's tests.
  for (const protocol of ['saml', 'oidc'] as const) {
    router.post(`/api/accounts/:slug/${protocol}/tests`, anyAdmin, async (req, res) => {
      assertAccountAccess(req, principal(res));
      res.status(201).json(await opts.sso.createTest(req.params.slug as string, protocol));
    });

    router.get(`/api/accounts/:slug/${protocol}/tests/:id`, anyAdmin, async (req, res) => {
      assertAccountAccess(req, principal(res));
      res
        .set('Cache-Control', 'no-store')
        .json(await opts.sso.getTest(req.params.slug as string, req.params.id as string, protocol));
    });
  }

  router.get('/api/accounts/:slug/users', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    const account = await opts.connections.account(req.params.slug as string);
    res.set('Cache-Control', 'no-store').json({ users: await opts.users.list(account) });
  });

  // Disable/enable a user (SSO users too) and pin or clear its role; the lockout rule applies.
  router.patch('/api/accounts/:slug/users/:userId', anyAdmin, json, async (req, res) => {
    assertAccountAccess(req, principal(res));
    const parsed = userPatchSchema.safeParse(req.body);
    if (!parsed.success) {
      throw new SpError('REQUEST_INVALID', {
        message: `The user change is invalid: ${fieldMessage(parsed.error, USER_PATCH_FIELDS)}`,
        detail: parsed.error.message,
      });
    }
    const account = await opts.connections.account(req.params.slug as string);
    const userId = String(req.params.userId);
    if (!USER_ID.test(userId)) throw new SpError('USER_NOT_FOUND');
    const patch: { disabled?: boolean; roleOverride?: 'admin' | 'member' | null } = {};
    if (parsed.data.disabled !== undefined) patch.disabled = parsed.data.disabled;
    if (parsed.data.roleOverride !== undefined) patch.roleOverride = parsed.data.roleOverride;
    res.json(
      await opts.users.update(account, userId, patch, actorOf(principal(res)), {
        enforceLockoutRule: true,
        clientIp: req.ip ?? null,
      }),
    );
  });

  router.get('/api/accounts/:slug/audit', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    const parsed = auditQuerySchema.safeParse(req.query);
    if (!parsed.success) throw new SpError('AUDIT_QUERY_INVALID', { detail: parsed.error.message });
    const account = await opts.connections.account(req.params.slug as string);
    const query: AuditQuery = { limit: parsed.data.limit };
    if (parsed.data.outcome) query.outcome = parsed.data.outcome;
    if (parsed.data.code) query.code = parsed.data.code;
    res.json({ events: await opts.stores.audit.list(account.id, query) });
  });

  // The reference on an error page, looked up by an admin of that account.
  router.get('/api/accounts/:slug/audit/:referenceId', anyAdmin, async (req, res) => {
    assertAccountAccess(req, principal(res));
    const account = await opts.connections.account(req.params.slug as string);
    const event = await opts.stores.audit.getByReference(String(req.params.referenceId).slice(0, 64));
    if (!event || event.accountId !== account.id) throw new SpError('NOT_FOUND');
    res.set('Cache-Control', 'no-store').json(event);
  });

  // Bots and their tokens: managed by people (session admins of the account, or the operator), never by
  // a bot, so a leaked token cannot make itself new credentials.
  router.post('/api/accounts/:slug/bots', humansOnly, json, async (req, res) => {
    const { account, actor } = await accountFor(req, res);
    res.status(201).json(await opts.bots.createBot(account, req.body ?? {}, actor));
  });

  router.get('/api/accounts/:slug/bots', humansOnly, async (req, res) => {
    const { account } = await accountFor(req, res);
    res.json({ bots: await opts.bots.listBots(account) });
  });

  router.delete('/api/accounts/:slug/bots/:botId', humansOnly, async (req, res) => {
    const { account } = await accountFor(req, res);
    await opts.bots.disableBot(account, req.params.botId as string);
    res.status(204).end();
  });

  router.post('/api/accounts/:slug/bots/:botId/tokens', humansOnly, json, async (req, res) => {
    const { account, actor } = await accountFor(req, res);
    const issued = await opts.bots.issueToken(account, req.params.botId as string, req.body ?? {}, actor);
    // Shown once: nothing on the way may keep a copy.
    res.status(201).set('Cache-Control', 'no-store').json(issued);
  });

  router.get('/api/accounts/:slug/bots/:botId/tokens', humansOnly, async (req, res) => {
    const { account } = await accountFor(req, res);
    res.json({ tokens: await opts.bots.listTokens(account, req.params.botId as string) });
  });

  router.delete('/api/accounts/:slug/bots/:botId/tokens/:tokenId', humansOnly, async (req, res) => {
    const { account } = await accountFor(req, res);
    await opts.bots.revokeToken(account, req.params.botId as string, req.params.tokenId as string);
    res.status(204).end();
  });

  router.get('/api/audit/:referenceId', tokenOnly, async (req, res) => {
    const event = await opts.stores.audit.getByReference(req.params.referenceId as string);
    if (!event) throw new SpError('NOT_FOUND');
    res.json(event);
  });

  return router;
}
