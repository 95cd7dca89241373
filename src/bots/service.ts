import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { TokenKeyRing } from '../config/token-keys.js';
import { SpError } from '../errors.js';
import type { Account, Bot, BotToken, Stores } from '../storage/types.js';
import { botTokenAudience, signBotToken, verifyBotToken, type BotTokenAudience } from './token.js';

/** Lifetime of a token when the request names none: 90 days. */
export const DEFAULT_TOKEN_TTL_SECONDS = 90 * 24 * 3600;
/** The longest expiring token: 366 days. Longer only as an explicit non-expiring token. */
export const MAX_TOKEN_TTL_SECONDS = 366 * 24 * 3600;
const MIN_TOKEN_TTL_SECONDS = 60;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** `POST /api/accounts/:slug/bots` (and the admin page's form, and the CLI). */
export const botInputSchema = z
  .object({
    name: z
      .string()
      .trim()
      .min(1)
      .max(100)
      .regex(/^[^\p{Cc}]*$/u, 'no control characters'),
    role: z.enum(['admin', 'member']),
  })
  .strict();

/**
 * `POST …/bots/:botId/tokens`: `expiresInSeconds` absent → {@link DEFAULT_TOKEN_TTL_SECONDS}; an
 * integer from 60 to {@link MAX_TOKEN_TTL_SECONDS}; `null` → a token that never expires (explicitly only).
 */
export const tokenInputSchema = z
  .object({
    expiresInSeconds: z
      .number()
      .int()
      .min(MIN_TOKEN_TTL_SECONDS)
      .max(MAX_TOKEN_TTL_SECONDS)
      .nullable()
      .optional(),
  })
  .strict();

/** Who performs an administrative action, as recorded on bots and tokens. */
export type Actor = { kind: 'operator' } | { kind: 'user'; userId: string };

const actorLabel = (actor: Actor): string =>
  actor.kind === 'operator' ? 'operator' : `user:${actor.userId}`;

/** Bot JSON. */
export interface BotView {
  id: string;
  name: string;
  role: 'admin' | 'member';
  disabled: boolean;
  createdAt: string;
  disabledAt: string | null;
  createdBy: string;
}

/** Token JSON in listings: metadata only, never the token. */
export interface BotTokenView {
  id: string;
  botId: string;
  kid: string;
  createdAt: string;
  /** null when the token never expires (see `neverExpires`). */
  expiresAt: string | null;
  neverExpires: boolean;
  revoked: boolean;
  revokedAt: string | null;
  createdBy: string;
}

/** The answer to an issuance: the only time the token itself is shown. */
export interface IssuedBotToken {
  id: string;
  token: string;
  expiresAt: string | null;
  neverExpires: boolean;
  botId: string;
  kid: string;
}

/** A request authenticated by a bot token. */
export interface BotPrincipal {
  botId: string;
  botName: string;
  role: 'admin' | 'member';
  accountId: string;
  accountSlug: string;
  tokenId: string;
}

const botView = (b: Bot): BotView => ({
  id: b.id,
  name: b.name,
  role: b.role,
  disabled: b.disabled,
  createdAt: b.createdAt,
  disabledAt: b.disabledAt,
  createdBy: b.createdBy,
});

const tokenView = (t: BotToken): BotTokenView => ({
  id: t.id,
  botId: t.botId,
  kid: t.kid,
  createdAt: t.createdAt,
  expiresAt: t.expiresAt,
  neverExpires: t.expiresAt === null,
  revoked: t.revokedAt !== null,
  revokedAt: t.revokedAt,
  createdBy: t.createdBy,
});

/** Bots of an account, their tokens, and the check of a presented token. */
export class BotService {
  private readonly aud: BotTokenAudience;

  constructor(
    private readonly stores: Stores,
    private readonly keys: TokenKeyRing,
    baseUrl: string,
  ) {
    this.aud = botTokenAudience(baseUrl);
  }

  /** Issuer and audience of this deployment's tokens. */
  get audience(): BotTokenAudience {
    return this.aud;
  }

  async createBot(account: Account, input: unknown, actor: Actor): Promise<BotView> {
    const parsed = botInputSchema.safeParse(input);
    if (!parsed.success) throw new SpError('BOT_INVALID', { detail: parsed.error.message });
    const bot = await this.stores.bots.create({
      accountId: account.id,
      name: parsed.data.name,
      role: parsed.data.role,
      createdBy: actorLabel(actor),
    });
    return botView(bot);
  }

  async listBots(account: Account): Promise<BotView[]> {
    return (await this.stores.bots.listByAccount(account.id)).map(botView);
  }

  /** Disables the bot: every token of it is refused from the next request on, on every instance. */
  async disableBot(account: Account, botId: string): Promise<void> {
    await this.bot(account, botId);
    await this.stores.bots.disable(botId);
  }

  async issueToken(account: Account, botId: string, input: unknown, actor: Actor): Promise<IssuedBotToken> {
    const parsed = tokenInputSchema.safeParse(input ?? {});
    if (!parsed.success) throw new SpError('TOKEN_LIFETIME_INVALID', { detail: parsed.error.message });
    const bot = await this.bot(account, botId);
    if (bot.disabled) throw new SpError('BOT_DISABLED');
    const ttl =
      parsed.data.expiresInSeconds === undefined ? DEFAULT_TOKEN_TTL_SECONDS : parsed.data.expiresInSeconds;
    const iat = Math.floor(Date.now() / 1000);
    const exp = ttl === null ? null : iat + ttl;
    const tokenId = randomUUID();
    // Signed first, recorded second: a failed write leaves a token that no check will ever accept.
    const token = await signBotToken(this.keys, this.aud, { tokenId, botId: bot.id, iat, exp });
    const stored = await this.stores.bots.addToken({
      id: tokenId,
      botId: bot.id,
      kid: this.keys.signing.kid,
      expiresAt: exp === null ? null : new Date(exp * 1000).toISOString(),
      createdBy: actorLabel(actor),
    });
    return {
      id: stored.id,
      token,
      expiresAt: stored.expiresAt,
      neverExpires: stored.expiresAt === null,
      botId: bot.id,
      kid: stored.kid,
    };
  }

  async listTokens(account: Account, botId: string): Promise<BotTokenView[]> {
    await this.bot(account, botId);
    return (await this.stores.bots.listTokens(botId)).map(tokenView);
  }

  /** Revokes a token (idempotent): refused from the next request on, on every instance. */
  async revokeToken(account: Account, botId: string, tokenId: string): Promise<void> {
    await this.bot(account, botId);
    if (!UUID.test(tokenId) || !(await this.stores.bots.revokeToken(botId, tokenId)))
      throw new SpError('BOT_TOKEN_NOT_FOUND');
  }

  /**
   * Authenticates a presented bot token: the JWT checks of {@link verifyBotToken}, then, in the shared
   * database, that its `jti` names a token issued here to this `sub` with this key and expiry, not
   * revoked, of a bot that is not disabled. Nothing is cached: every call reads the database, so a
   * revocation or a disable on any instance applies to the next request on every other.
   */
  async authenticate(token: string): Promise<BotPrincipal> {
    const claims = await verifyBotToken(token, this.keys, this.aud);
    const found = await this.stores.bots.credential(claims.tokenId);
    // A signature alone does not make a token: it must be one we issued and recorded (a key that leaked
    // or was misused cannot mint new tokens for existing bots, and every token can be listed and revoked).
    if (!found) throw new SpError('TOKEN_UNKNOWN', { detail: `jti ${claims.tokenId} was never issued` });
    const { token: issued, bot } = found;
    const issuedExp = issued.expiresAt === null ? null : Math.floor(Date.parse(issued.expiresAt) / 1000);
    if (issued.botId !== claims.botId || issued.kid !== claims.kid || issuedExp !== claims.exp) {
      throw new SpError('TOKEN_UNKNOWN', { detail: `jti ${claims.tokenId} was issued with other claims` });
    }
    if (issued.revokedAt !== null) throw new SpError('TOKEN_REVOKED', { detail: `jti ${issued.id}` });
    if (bot.disabled) throw new SpError('TOKEN_BOT_DISABLED', { detail: `bot ${bot.id}` });
    return {
      botId: bot.id,
      botName: bot.name,
      role: bot.role,
      accountId: bot.accountId,
      accountSlug: found.accountSlug,
      tokenId: issued.id,
    };
  }

  /** The public keys (signing and verify-only) as a JWK Set. */
  jwks(): { keys: object[] } {
    return { keys: this.keys.accepted.map((k) => ({ ...k.publicJwk })) };
  }

  private async bot(account: Account, botId: string): Promise<Bot> {
    const bot = UUID.test(botId) ? await this.stores.bots.getById(botId) : null;
    // Another account's bot is "not found" here, never "forbidden": ids of other accounts are not confirmed.
    if (!bot || bot.accountId !== account.id) throw new SpError('BOT_NOT_FOUND');
    return bot;
  }
}
